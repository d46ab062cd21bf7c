#include "src/run_selection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/plan_builders.h"

namespace tierun {
namespace {

using test::MakePlan;
using test::MakeTier;
using ::testing::HasSubstr;

struct SpecCase {
  const char* text;
  RunId id;
};

// Both forms of RUN, the number and the run directory's name.
const SpecCase kSpecCases[] = {
    {"T0/00-baseline/1", {"T0", "00-baseline", 1}},
    {"T0/00-baseline/run_01", {"T0", "00-baseline", 1}},
    {"T0/a/12", {"T0", "a", 12}},
    {"T0/a/run_12", {"T0", "a", 12}},
    {"T0/a/run_100", {"T0", "a", 100}},
    {"T0/a/07", {"T0", "a", 7}},
    {"T.1/a_b-c/run_2", {"T.1", "a_b-c", 2}},
};

TEST(RunSpecTest, ParsesBothForms) {
  for (const SpecCase& spec : kSpecCases) {
    auto id = ParseRunSpec(spec.text);
    ASSERT_TRUE(id.ok()) << spec.text << ": " << id.error().message;
    EXPECT_EQ(*id, spec.id) << spec.text;
  }
}

// Anything else is refused, quoting the item and the expected form.
TEST(RunSpecTest, RefusesMalformedItems) {
  for (const char* text : {"", "T0", "T0/a", "T0/a/", "/a/1", "T0//1", "T0/a/1/x", "T0/a/0",
                           "T0/a/run_0", "T0/a/run_", "T0/a/-1", "T0/a/+1", "T0/a/1x", "T0/a/run01",
                           "T0/a/RUN_01", "T0/a/ 1", "T0/a/99999999999"}) {
    auto id = ParseRunSpec(text);
    ASSERT_FALSE(id.ok()) << "'" << text << "' was accepted";
    EXPECT_EQ(id.error().kind, jobserver::ErrorKind::kInvalid);
    EXPECT_THAT(id.error().message,
                HasSubstr("--runs: '" + std::string(text) + "' is not TIER/SUBTEST/RUN"));
  }
}

class SelectRunsTest : public ::testing::Test {
 protected:
  Plan plan_ = MakePlan("exp", {MakeTier("T0", {"00", "01"}, 2), MakeTier("T1", {"x"}, 1)});
};

// No --tiers, no --runs: every run.
TEST_F(SelectRunsTest, NothingGivenSelectsTheWholePlan) {
  auto selection = SelectRuns(plan_, {}, {});
  ASSERT_TRUE(selection.ok());
  EXPECT_FALSE(selection->scoped());
  EXPECT_TRUE(selection->Has("T1", "x", 1));
}

// --tiers selects every run of those tiers.
TEST_F(SelectRunsTest, TiersSelectTheirRuns) {
  auto selection = SelectRuns(plan_, {"T1"}, {});
  ASSERT_TRUE(selection.ok());
  EXPECT_EQ(selection->scope, RunSelection::Scope::kTiers);
  EXPECT_TRUE(selection->Has("T1", "x", 1));
  EXPECT_FALSE(selection->Has("T0", "00", 1));
  EXPECT_FALSE(selection->HasTier("T0"));
}

// --runs selects exactly those runs, named either way, and their tiers.
TEST_F(SelectRunsTest, RunsSelectExactlyThoseRuns) {
  auto selection = SelectRuns(plan_, {}, {"T0/01/2", "T0/01/run_02", "T0/00/run_01"});
  ASSERT_TRUE(selection.ok()) << selection.error().message;
  EXPECT_EQ(selection->scope, RunSelection::Scope::kRuns);
  EXPECT_EQ(selection->runs.size(), 2u);
  EXPECT_TRUE(selection->Has("T0", "01", 2));
  EXPECT_TRUE(selection->Has("T0", "00", 1));
  EXPECT_FALSE(selection->Has("T0", "00", 2));
  EXPECT_TRUE(selection->HasTier("T0"));
  EXPECT_FALSE(selection->HasTier("T1"));
}

struct BadSelectionCase {
  const char* name;
  std::vector<std::string> tiers, runs;
  const char* message;
};

const BadSelectionCase kBadSelections[] = {
    {"UnknownTier", {"T9"}, {}, "--tiers: no tier 'T9' in the plan"},
    {"UnknownRunTier", {}, {"T9/00/1"}, "--runs: no tier 'T9' in the plan ('T9/00/1')"},
    {"UnknownSubtest", {}, {"T0/02/1"}, "--runs: no sub-test '02' in tier T0 ('T0/02/1')"},
    {"UnknownRun", {}, {"T0/00/7"}, "--runs: no run 'T0/00/7' in the plan (tier T0 has runs 1-2)"},
    {"UnknownRunDirectory",
     {},
     {"T1/x/run_02"},
     "--runs: no run 'T1/x/run_02' in the plan (tier T1 has runs 1-1)"},
    {"Malformed", {}, {"T0/00/1", "T0/00"}, "--runs: 'T0/00' is not TIER/SUBTEST/RUN"},
    {"Both", {"T0"}, {"T1/x/1"}, "use --tiers or --runs, not both"},
};

// Keeps ctest's test names short: the case's name, not its bytes.
void PrintTo(const BadSelectionCase& bad, std::ostream* os) { *os << bad.name; }

class BadSelectionTest : public ::testing::TestWithParam<BadSelectionCase> {};

// Every bad item is named; nothing is selected.
TEST_P(BadSelectionTest, NamesTheBadItem) {
  const Plan plan = MakePlan("exp", {MakeTier("T0", {"00", "01"}, 2), MakeTier("T1", {"x"}, 1)});
  auto selection = SelectRuns(plan, GetParam().tiers, GetParam().runs);
  ASSERT_FALSE(selection.ok());
  EXPECT_EQ(selection.error().kind, jobserver::ErrorKind::kInvalid);
  EXPECT_EQ(selection.error().message.rfind(GetParam().message, 0), 0u)
      << selection.error().message;
}

INSTANTIATE_TEST_SUITE_P(Items, BadSelectionTest, ::testing::ValuesIn(kBadSelections),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace tierun
