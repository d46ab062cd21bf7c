#include "src/metrics.h"
