#pragma once

/// Metrics derived from run records (docs/design.md section 4.8). They are
/// computed whenever reports are built and never stored as state that could
/// go stale.
///
/// Sub-test: runs, passed, pass_rate, mean/median/stdev of score (sample
/// standard deviation, 0 for fewer than 2 runs), total_cost, mean_cost,
/// consistency = max(0, 1 - stdev/mean) (0 when mean is 0), and
/// cost_of_pass = mean_cost / pass_rate, absent (JSON null) when pass_rate is
/// 0: JSON has no infinity.
/// Tier: the best sub-test -- highest median score; ties: higher pass rate,
/// then lower mean cost, then plan order -- whose cost_of_pass is the tier's.
/// Experiment: frontier cost_of_pass = the minimum over tiers, and its tier.
///
/// Overflow: what agents report is bounded (run_record.h), so no sum, mean
/// or deviation of it overflows. For other input, a mean of finite values
/// stays finite, a sum or deviation past DBL_MAX is infinite and shows as
/// null in the reports (never "inf"), a cost_of_pass that is not finite is
/// absent and never the frontier. Token counts add up saturating at
/// INT64_MAX, shown as null (AddTokensSaturating).
/// (Cost-of-pass: Erol et al., "Cost-of-Pass: An Economic Framework for
/// Evaluating Language Models", 2025: expected cost of one correct solution.)

#include <optional>
#include <string>
#include <vector>

#include "src/plan.h"
#include "src/plan_results.h"
#include "src/run_record.h"

namespace tierun {

struct SubtestMetrics {
  std::string tier;
  std::string subtest;
  int expected_runs = 0;  ///< From the plan.
  int runs = 0;           ///< Complete runs.
  int passed = 0;
  double pass_rate = 0;
  double mean_score = 0;
  double median_score = 0;
  double stdev_score = 0;
  double total_cost = 0;
  double mean_cost = 0;
  double consistency = 0;
  std::optional<double> cost_of_pass;
  TokenCounts tokens;
};

struct TierMetrics {
  std::string tier;
  std::vector<SubtestMetrics> subtests;  ///< Plan order.
  std::optional<std::string> best_subtest;
  std::optional<double> cost_of_pass;  ///< The best sub-test's.
  int expected_runs = 0;
  int runs = 0;
  int passed = 0;
  double total_cost = 0;
  TokenCounts tokens;
};

struct ExperimentMetrics {
  std::string name;
  std::vector<TierMetrics> tiers;  ///< Plan order.
  std::optional<double> frontier_cost_of_pass;
  std::optional<std::string> frontier_tier;
  int expected_runs = 0;
  int runs = 0;
  int passed = 0;
  double total_cost = 0;
  TokenCounts tokens;
};

/// Records of tiers, sub-tests or run numbers (outside 1..tier.runs) the plan
/// does not name are ignored. A run recorded twice (same tier, sub-test and
/// run) counts once, as its first record. Ties for the frontier go to the
/// first tier in plan order. Scores are compared exactly: medians equal only
/// when bit-for-bit equal.
ExperimentMetrics ComputeMetrics(const Plan& plan, const std::vector<RunRecord>& records);
/// The same from the outcomes of a PlanResults table.
ExperimentMetrics ComputeMetrics(const Plan& plan, const PlanResults& results);

}  // namespace tierun
