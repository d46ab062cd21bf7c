#include "src/plan.h"

#include <gtest/gtest.h>
