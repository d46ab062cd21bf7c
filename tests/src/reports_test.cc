#include "src/reports.h"

#include <gtest/gtest.h>
