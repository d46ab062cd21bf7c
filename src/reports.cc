#include "src/reports.h"
