#include "src/run_record.h"
