#include "src/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/support/plan_builders.h"

namespace tierun {

void PrintTo(const TokenCounts& tokens, std::ostream* os) {
  *os << "{input " << tokens.input << ", output " << tokens.output << "}";
}

namespace {

using test::MakePlan;
using test::MakeTier;

constexpr double kTolerance = 1e-6;

struct RunSpec {
  double score;
  bool passed;
  std::optional<double> cost;
};

RunRecord MakeRecord(const std::string& tier, const std::string& subtest, int run,
                     const RunSpec& spec) {
  return test::MakeRecord(tier, subtest, run, spec.score, spec.passed, spec.cost);
}

/// Records run_01, run_02, ... of one sub-test.
void AddRuns(std::vector<RunRecord>& records, const std::string& tier, const std::string& subtest,
             const std::vector<RunSpec>& runs) {
  for (size_t i = 0; i < runs.size(); ++i) {
    records.push_back(MakeRecord(tier, subtest, static_cast<int>(i) + 1, runs[i]));
  }
}

void ExpectOptionalNear(const std::optional<double>& actual, const std::optional<double>& expected,
                        const std::string& what) {
  ASSERT_EQ(actual.has_value(), expected.has_value()) << what;
  if (expected) {
    EXPECT_NEAR(*actual, *expected, kTolerance) << what;
  }
}

struct StatisticsCase {
  std::string name;
  std::vector<RunSpec> runs;
  double pass_rate, mean, median, stdev, consistency, total_cost, mean_cost;
  std::optional<double> cost_of_pass;
};

// Every sub-test statistic against values worked out by hand.
TEST(MetricsTest, SubtestStatisticsMatchHandComputedValues) {
  const std::vector<StatisticsCase> cases = {
      // Sorted 0.2 0.4 0.9: median 0.4, mean 1.5/3 = 0.5. Deviations 0.4 -0.3 -0.1,
      // squares 0.26, / (n-1) = 0.13, stdev sqrt(0.13) = 0.360555; consistency
      // 1 - 0.360555/0.5 = 0.278890. Pass rate 1/3; cost 0.06, mean 0.02,
      // cost-of-pass 0.02 / (1/3) = 0.06.
      {"odd count, unsorted",
       {{0.9, true, 0.03}, {0.2, false, 0.01}, {0.4, false, 0.02}},
       1.0 / 3,
       0.5,
       0.4,
       0.360555,
       0.278890,
       0.06,
       0.02,
       0.06},
      // Sorted 0.1 0.3 0.5 0.7: median (0.3+0.5)/2 = 0.4, mean 0.4. Squares
      // 0.09+0.01+0.01+0.09 = 0.2, / 3, stdev sqrt(0.066667) = 0.258199;
      // consistency 1 - 0.258199/0.4 = 0.354503. Cost 0.04/4 = 0.01 / 0.5 = 0.02.
      {"even count: mean of the middle two",
       {{0.7, true, 0.01}, {0.1, false, 0.01}, {0.5, true, 0.01}, {0.3, false, 0.01}},
       0.5,
       0.4,
       0.4,
       0.258199,
       0.354503,
       0.04,
       0.01,
       0.02},
      // n = 1: no spread to measure, stdev 0, consistency 1.
      {"single run", {{0.8, true, 0.05}}, 1, 0.8, 0.8, 0, 1, 0.05, 0.05, 0.05},
      // Mean 0.3, stdev sqrt(0.01+0.01) = 0.141421, consistency 0.528595; no
      // pass: cost-of-pass would be infinite, so it is absent.
      {"no pass: cost-of-pass absent",
       {{0.2, false, 0.01}, {0.4, false, 0.03}},
       0,
       0.3,
       0.3,
       0.141421,
       0.528595,
       0.04,
       0.02,
       std::nullopt},
      // stdev/mean would be 0/0; consistency is 0 by definition.
      {"mean zero: consistency 0", {{0, false, {}}, {0, false, {}}}, 0, 0, 0, 0, 0, 0, 0, {}},
      // Mean 1/3, median 0, stdev sqrt((1/9+1/9+4/9)/2) = sqrt(1/3) = 0.577350;
      // 1 - 0.577350/0.333333 < 0, clamped to 0. Cost 0.01 / (1/3) = 0.03.
      {"stdev above mean: consistency clamped",
       {{0, false, 0.01}, {0, false, 0.01}, {1, true, 0.01}},
       1.0 / 3,
       1.0 / 3,
       0,
       0.577350,
       0,
       0.03,
       0.01,
       0.03},
      // Absent cost counts as 0: total 0.04, mean 0.02, pass rate 1.
      {"absent cost counts as zero",
       {{1, true, {}}, {1, true, 0.04}},
       1,
       1,
       1,
       0,
       1,
       0.04,
       0.02,
       0.02},
  };
  for (const StatisticsCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<RunRecord> records;
    AddRuns(records, "T0", "00", c.runs);
    const int planned = static_cast<int>(c.runs.size());
    const ExperimentMetrics metrics =
        ComputeMetrics(MakePlan("demo", {MakeTier("T0", {"00"}, planned)}), records);
    ASSERT_EQ(metrics.tiers.size(), 1u);
    ASSERT_EQ(metrics.tiers[0].subtests.size(), 1u);
    const SubtestMetrics& subtest = metrics.tiers[0].subtests[0];
    EXPECT_EQ(subtest.runs, planned);
    EXPECT_NEAR(subtest.pass_rate, c.pass_rate, kTolerance);
    EXPECT_NEAR(subtest.mean_score, c.mean, kTolerance);
    EXPECT_NEAR(subtest.median_score, c.median, kTolerance);
    EXPECT_NEAR(subtest.stdev_score, c.stdev, kTolerance);
    EXPECT_NEAR(subtest.consistency, c.consistency, kTolerance);
    EXPECT_NEAR(subtest.total_cost, c.total_cost, kTolerance);
    EXPECT_NEAR(subtest.mean_cost, c.mean_cost, kTolerance);
    ExpectOptionalNear(subtest.cost_of_pass, c.cost_of_pass, "cost_of_pass");
  }
}

// A sub-test nobody ran yet is all zeros and has no cost-of-pass; a tier
// without any run has no best sub-test; no tier means no frontier.
TEST(MetricsTest, NothingRunYetHasNoBestAndNoFrontier) {
  const ExperimentMetrics metrics =
      ComputeMetrics(MakePlan("demo", {MakeTier("T0", {"00"}, 3)}), {});
  ASSERT_EQ(metrics.tiers.size(), 1u);
  const SubtestMetrics& subtest = metrics.tiers[0].subtests.at(0);
  EXPECT_EQ(subtest.expected_runs, 3);
  EXPECT_EQ(subtest.runs, 0);
  EXPECT_EQ(subtest.pass_rate, 0);
  EXPECT_EQ(subtest.consistency, 0);
  EXPECT_FALSE(subtest.cost_of_pass.has_value());
  EXPECT_FALSE(metrics.tiers[0].best_subtest.has_value());
  EXPECT_FALSE(metrics.tiers[0].cost_of_pass.has_value());
  EXPECT_FALSE(metrics.frontier_cost_of_pass.has_value());
  EXPECT_FALSE(metrics.frontier_tier.has_value());
}

struct BestCase {
  std::string name;
  std::vector<RunSpec> first;   // Sub-test "00", first in plan order.
  std::vector<RunSpec> second;  // Sub-test "01".
  std::optional<std::string> best;
  std::optional<double> cost_of_pass;
};

// The best sub-test at each level of the tie-break, and the tier's
// cost-of-pass taken from it.
TEST(MetricsTest, BestSubtestBreaksTiesInOrder) {
  const std::vector<BestCase> cases = {
      // Median 0.6 beats 0.5 although it never passed: the tier then has no
      // cost-of-pass, even though "01" has one (0.01).
      {"higher median wins over pass rate",
       {{0.6, false, 0.01}, {0.6, false, 0.01}},
       {{0.5, true, 0.01}, {0.5, true, 0.01}},
       "00",
       std::nullopt},
      // Medians 0.5 = 0.5; pass rate 1 beats 0.5 although "01" costs more:
      // 0.02 / 1 = 0.02.
      {"median tie: higher pass rate wins",
       {{0.5, false, 0.01}, {0.5, true, 0.01}},
       {{0.5, true, 0.02}, {0.5, true, 0.02}},
       "01",
       0.02},
      // Median 0.5, pass rate 1 both; mean cost 0.02 < 0.04.
      {"median and pass rate tie: lower mean cost wins",
       {{0.5, true, 0.04}},
       {{0.5, true, 0.02}},
       "01",
       0.02},
      // Everything equal: plan order, the first.
      {"full tie: plan order", {{0.5, true, 0.03}}, {{0.5, true, 0.03}}, "00", 0.03},
      // "00" has no runs: its zero median must not tie with "01"'s zero.
      {"sub-test without runs is never best", {}, {{0, false, {}}}, "01", std::nullopt},
      {"no runs at all", {}, {}, std::nullopt, std::nullopt},
  };
  for (const BestCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<RunRecord> records;
    AddRuns(records, "T0", "00", c.first);
    AddRuns(records, "T0", "01", c.second);
    const ExperimentMetrics metrics =
        ComputeMetrics(MakePlan("demo", {MakeTier("T0", {"00", "01"}, 2)}), records);
    ASSERT_EQ(metrics.tiers.size(), 1u);
    EXPECT_EQ(metrics.tiers[0].best_subtest, c.best);
    ExpectOptionalNear(metrics.tiers[0].cost_of_pass, c.cost_of_pass, "tier cost_of_pass");
  }
}

// The frontier is the cheapest tier's cost-of-pass; tiers without one are
// skipped, and an exact tie goes to the first tier in plan order.
TEST(MetricsTest, FrontierIsTheCheapestTier) {
  std::vector<RunRecord> records;
  AddRuns(records, "T0", "00", {{1, true, 0.06}});                    // 0.06 / 1 = 0.06
  AddRuns(records, "T1", "00", {{1, true, 0.01}, {0, false, 0.01}});  // 0.01 / 0.5 = 0.02
  AddRuns(records, "T2", "00", {{0, false, 0.001}});                  // no pass: none
  AddRuns(records, "T3", "00", {{1, true, 0.01}, {0, false, 0.01}});  // 0.02 again: tie
  const Plan plan = MakePlan("demo", {MakeTier("T0", {"00"}, 2), MakeTier("T1", {"00"}, 2),
                                      MakeTier("T2", {"00"}, 2), MakeTier("T3", {"00"}, 2)});
  const ExperimentMetrics metrics = ComputeMetrics(plan, records);
  ASSERT_TRUE(metrics.frontier_cost_of_pass.has_value());
  EXPECT_NEAR(*metrics.frontier_cost_of_pass, 0.02, kTolerance);
  EXPECT_EQ(metrics.frontier_tier, "T1");
  ASSERT_EQ(metrics.tiers.size(), 4u);
  ExpectOptionalNear(metrics.tiers[0].cost_of_pass, 0.06, "T0");
  ExpectOptionalNear(metrics.tiers[2].cost_of_pass, std::nullopt, "T2");
}

// When no tier's best sub-test passed there is no frontier at all.
TEST(MetricsTest, NoFrontierWhenNoTierPassed) {
  std::vector<RunRecord> records;
  AddRuns(records, "T0", "00", {{0.3, false, 0.01}});
  AddRuns(records, "T1", "00", {{0.1, false, 0.01}});
  const ExperimentMetrics metrics = ComputeMetrics(
      MakePlan("demo", {MakeTier("T0", {"00"}, 1), MakeTier("T1", {"00"}, 1)}), records);
  EXPECT_FALSE(metrics.frontier_cost_of_pass.has_value());
  EXPECT_FALSE(metrics.frontier_tier.has_value());
}

// Expected runs come from the plan (runs x sub-tests), done runs from the
// records; totals and tokens add up at every level.
TEST(MetricsTest, CountsExpectedAndDoneRunsAndSums) {
  std::vector<RunRecord> records;
  AddRuns(records, "T0", "00", {{1, true, 0.01}, {0, false, 0.02}});
  AddRuns(records, "T1", "00", {{1, true, {}}});
  records[0].tokens = {100, 10};
  records[1].tokens = {200, 20};
  records[2].tokens = {1000, 1};
  const Plan plan = MakePlan("demo", {MakeTier("T0", {"00", "01"}, 3), MakeTier("T1", {"00"}, 2)});
  const ExperimentMetrics metrics = ComputeMetrics(plan, records);
  EXPECT_EQ(metrics.name, "demo");
  ASSERT_EQ(metrics.tiers.size(), 2u);
  const TierMetrics& t0 = metrics.tiers[0];
  ASSERT_EQ(t0.subtests.size(), 2u);
  EXPECT_EQ(t0.subtests[0].subtest, "00");
  EXPECT_EQ(t0.subtests[0].expected_runs, 3);
  EXPECT_EQ(t0.subtests[0].runs, 2);
  EXPECT_EQ(t0.subtests[1].expected_runs, 3);
  EXPECT_EQ(t0.subtests[1].runs, 0);
  EXPECT_EQ(t0.subtests[0].tokens, (TokenCounts{300, 30}));
  EXPECT_EQ(t0.expected_runs, 6);  // 3 runs x 2 sub-tests
  EXPECT_EQ(t0.runs, 2);
  EXPECT_EQ(t0.passed, 1);
  EXPECT_NEAR(t0.total_cost, 0.03, kTolerance);
  EXPECT_EQ(t0.tokens, (TokenCounts{300, 30}));
  EXPECT_EQ(metrics.tiers[1].expected_runs, 2);
  EXPECT_EQ(metrics.tiers[1].runs, 1);
  EXPECT_EQ(metrics.expected_runs, 8);
  EXPECT_EQ(metrics.runs, 3);
  EXPECT_EQ(metrics.passed, 2);
  EXPECT_NEAR(metrics.total_cost, 0.03, kTolerance);
  EXPECT_EQ(metrics.tokens, (TokenCounts{1300, 31}));
}

// Records the plan does not name (tier, sub-test, or run number) are ignored.
TEST(MetricsTest, IgnoresRecordsOutsideThePlan) {
  const std::vector<RunRecord> records = {
      MakeRecord("T9", "00", 1, {1, true, 1.0}),  // unknown tier
      MakeRecord("T0", "zz", 1, {1, true, 1.0}),  // unknown sub-test
      MakeRecord("T0", "00", 3, {1, true, 1.0}),  // the plan has runs 1..2
      MakeRecord("T0", "00", 0, {1, true, 1.0}),  // runs are 1-based
  };
  const ExperimentMetrics metrics =
      ComputeMetrics(MakePlan("demo", {MakeTier("T0", {"00"}, 2)}), records);
  EXPECT_EQ(metrics.runs, 0);
  EXPECT_EQ(metrics.total_cost, 0);
  ASSERT_EQ(metrics.tiers.size(), 1u);
  EXPECT_EQ(metrics.tiers[0].subtests.at(0).runs, 0);
}

// A run recorded twice counts once, as its first record.
TEST(MetricsTest, RepeatedRunCountsItsFirstRecord) {
  const std::vector<RunRecord> records = {
      MakeRecord("T0", "00", 1, {1, true, 0.01}),
      MakeRecord("T0", "00", 1, {0, false, 5.0}),
  };
  const ExperimentMetrics metrics =
      ComputeMetrics(MakePlan("demo", {MakeTier("T0", {"00"}, 2)}), records);
  const SubtestMetrics& subtest = metrics.tiers.at(0).subtests.at(0);
  EXPECT_EQ(subtest.runs, 1);
  EXPECT_EQ(subtest.passed, 1);
  EXPECT_NEAR(subtest.total_cost, 0.01, kTolerance);
  EXPECT_NEAR(subtest.mean_score, 1, kTolerance);
}

// Metrics do not depend on the order records arrive in (ReadRunRecords
// returns plan order, a runner may collect them in completion order).
TEST(MetricsTest, RecordOrderDoesNotMatter) {
  std::vector<RunRecord> records;
  AddRuns(records, "T0", "00", {{0.1, false, 0.1}, {0.7, true, 0.2}, {0.3, false, 0.3}});
  AddRuns(records, "T0", "01", {{0.9, true, 0.7}});
  const Plan plan = MakePlan("demo", {MakeTier("T0", {"00", "01"}, 3)});
  const ExperimentMetrics forward = ComputeMetrics(plan, records);
  std::vector<RunRecord> reversed(records.rbegin(), records.rend());
  const ExperimentMetrics backward = ComputeMetrics(plan, reversed);
  for (size_t i = 0; i < 2; ++i) {
    const SubtestMetrics& a = forward.tiers.at(0).subtests.at(i);
    const SubtestMetrics& b = backward.tiers.at(0).subtests.at(i);
    EXPECT_EQ(a.mean_score, b.mean_score);  // bit-for-bit: same summation order
    EXPECT_EQ(a.stdev_score, b.stdev_score);
    EXPECT_EQ(a.total_cost, b.total_cost);
  }
  EXPECT_EQ(forward.tiers[0].best_subtest, "01");
  EXPECT_EQ(backward.tiers[0].best_subtest, "01");
}

// ---- overflow (tests/faults/plan_overflow_test.sh) ------------------------------

// Token counts add up saturating: 1,000 runs of 1e16 tokens pass INT64_MAX
// and stay there (the reports show null), where they wrapped to negative.
TEST(MetricsTest, TokenSumsSaturateInsteadOfWrapping) {
  std::vector<RunRecord> records;
  for (int run = 1; run <= 1000; ++run) {
    records.push_back(MakeRecord("T0", "00", run, {1, true, 0.01}));
    records.back().tokens = {kMaxAttemptTokens, 5};
  }
  const ExperimentMetrics metrics =
      ComputeMetrics(MakePlan("demo", {MakeTier("T0", {"00"}, 1000)}), records);
  EXPECT_EQ(metrics.tiers[0].subtests[0].tokens, (TokenCounts{INT64_MAX, 5000}));
  EXPECT_EQ(metrics.tokens, (TokenCounts{INT64_MAX, 5000}));
  EXPECT_TRUE(TokenCountSaturated(metrics.tokens.input));
  EXPECT_FALSE(TokenCountSaturated(metrics.tokens.output));
  // Two runs of INT64_MAX each: -2 when wrapped.
  TokenCounts sum{INT64_MAX, 0};
  AddTokensSaturating(sum, {INT64_MAX, 7});
  EXPECT_EQ(sum, (TokenCounts{INT64_MAX, 7}));
}

// What agents report is bounded, but the metrics stay finite for any
// finite input: a mean of 1e308 and 1e308 is 1e308 (the sum is infinite), a
// median of 1.7e308 and 1.7e308 too.
TEST(MetricsTest, MeansOfHugeValuesDoNotOverflow) {
  std::vector<RunRecord> records;
  AddRuns(records, "T0", "00", {{1e308, true, 1e308}, {1e308, true, 1e308}});
  AddRuns(records, "T0", "01", {{1.7e308, true, 0}, {1.7e308, true, 0}, {-1.7e308, true, 0}});
  const ExperimentMetrics metrics =
      ComputeMetrics(MakePlan("demo", {MakeTier("T0", {"00", "01"}, 3)}), records);
  const SubtestMetrics& a = metrics.tiers[0].subtests[0];
  EXPECT_EQ(a.mean_score, 1e308);
  EXPECT_EQ(a.median_score, 1e308);
  EXPECT_EQ(a.stdev_score, 0);
  EXPECT_TRUE(std::isinf(a.total_cost));  // A sum past DBL_MAX: null in the reports.
  EXPECT_EQ(a.mean_cost, 1e308);
  ASSERT_TRUE(a.cost_of_pass.has_value());
  EXPECT_EQ(*a.cost_of_pass, 1e308);
  const SubtestMetrics& b = metrics.tiers[0].subtests[1];
  EXPECT_TRUE(std::isfinite(b.mean_score)) << b.mean_score;
  EXPECT_NEAR(b.mean_score / 1.7e308, 1.0 / 3, kTolerance);
  EXPECT_EQ(b.median_score, 1.7e308);
  // Deviations 2/3, 2/3, -4/3 of 1.7e308: sqrt((4/9 + 4/9 + 16/9) / 2) =
  // 1.1547 x 1.7e308, past DBL_MAX: infinite, never NaN.
  EXPECT_TRUE(std::isinf(b.stdev_score)) << b.stdev_score;
  EXPECT_EQ(b.consistency, 0);
}

// A cost-of-pass that overflows is absent, so it is never the frontier; nor
// is a negative one possible from an agent (run_record.h ranges).
TEST(MetricsTest, NonFiniteCostOfPassIsNeverTheFrontier) {
  std::vector<RunRecord> records;
  AddRuns(records, "T0", "00", {{1, true, 1e308}, {0, false, 1e308}, {0, false, 1e308}});
  AddRuns(records, "T1", "00", {{1, true, 0.5}});
  const ExperimentMetrics metrics = ComputeMetrics(
      MakePlan("demo", {MakeTier("T0", {"00"}, 3), MakeTier("T1", {"00"}, 3)}), records);
  // T0: mean cost 1e308 / pass rate 1/3 = 3e308, past DBL_MAX.
  EXPECT_FALSE(metrics.tiers[0].cost_of_pass.has_value());
  ASSERT_TRUE(metrics.frontier_cost_of_pass.has_value());
  EXPECT_EQ(*metrics.frontier_cost_of_pass, 0.5);
  EXPECT_EQ(metrics.frontier_tier, "T1");
}

}  // namespace
}  // namespace tierun
