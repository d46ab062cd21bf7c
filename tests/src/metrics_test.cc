#include "src/metrics.h"

#include <gtest/gtest.h>
