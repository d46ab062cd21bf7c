#include "src/metrics.h"

#include <algorithm>
#include <cmath>

namespace tierun {

namespace {

/// The mean of finite values is finite: when their sum overflows (1e308 and
/// 1e308), it is taken again as the sum of value / n. (Scores and costs an
/// agent reports are bounded, run_record.h; this is for any other caller.)
double Mean(const std::vector<double>& values) {
  if (values.empty()) return 0;
  const double n = static_cast<double>(values.size());
  double sum = 0;
  for (double value : values) sum += value;
  if (std::isfinite(sum)) return sum / n;
  sum = 0;
  for (double value : values) sum += value / n;
  return sum;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  if (values.size() % 2 == 1) return values[middle];
  return values[middle - 1] / 2 + values[middle] / 2;  // Never past the larger.
}

/// Sample standard deviation (n - 1): the runs are a sample of what the agent
/// would do, not the whole population.
/// Where the squares overflow, the deviations are taken in units of the
/// largest one first; the result may still be past DBL_MAX (the values
/// spread over more than it): then it is infinite, and the reports show null.
double SampleStdev(const std::vector<double>& values, double mean) {
  if (values.size() < 2) return 0;
  const double n = static_cast<double>(values.size() - 1);
  double squares = 0;
  for (double value : values) squares += (value - mean) * (value - mean);
  if (std::isfinite(squares)) return std::sqrt(squares / n);
  double scale = 0;  // Halves, so a deviation of -1e308 from 1.7e308 is finite.
  for (double value : values) scale = std::max(scale, std::abs(value / 2 - mean / 2));
  squares = 0;
  for (double value : values) {
    const double unit = (value / 2 - mean / 2) / scale;
    squares += unit * unit / n;
  }
  return 2 * scale * std::sqrt(squares);
}

SubtestMetrics ComputeSubtest(const Tier& tier, size_t tier_index, size_t subtest_index,
                              const PlanResults& results) {
  SubtestMetrics metrics;
  metrics.tier = tier.id;
  metrics.subtest = tier.subtests[subtest_index];
  metrics.expected_runs = tier.runs;
  std::vector<double> scores;
  std::vector<double> costs;  // Absent counts as 0.
  for (int run = 1; run <= tier.runs; ++run) {
    const RunOutcome* found = results.Find(tier_index, subtest_index, run);
    if (found == nullptr) continue;
    const RunOutcome& record = *found;
    scores.push_back(record.score);
    costs.push_back(record.cost_usd.value_or(0));
    if (record.passed) ++metrics.passed;
    // Past DBL_MAX a sum is infinite: the reports show it as null.
    metrics.total_cost += record.cost_usd.value_or(0);
    AddTokensSaturating(metrics.tokens, record.tokens);
  }
  metrics.runs = static_cast<int>(scores.size());
  if (metrics.runs == 0) return metrics;
  const double runs = metrics.runs;
  metrics.pass_rate = metrics.passed / runs;
  metrics.mean_score = Mean(scores);
  metrics.median_score = Median(scores);
  metrics.stdev_score = SampleStdev(scores, metrics.mean_score);
  metrics.mean_cost = Mean(costs);  // Finite even where the total is not.
  if (metrics.mean_score > 0) {
    metrics.consistency = std::max(0.0, 1 - metrics.stdev_score / metrics.mean_score);
  }
  // Cost-of-pass is infinite without a pass; JSON has no infinity, so absent.
  // So is one that overflows: it could never be the frontier.
  if (metrics.pass_rate > 0 && std::isfinite(metrics.mean_cost / metrics.pass_rate)) {
    metrics.cost_of_pass = metrics.mean_cost / metrics.pass_rate;
  }
  return metrics;
}

/// True when `a` ranks above `b` as a tier's best sub-test; equal ranks keep
/// plan order because the caller only replaces on a strict win.
bool RanksAbove(const SubtestMetrics& a, const SubtestMetrics& b) {
  if (a.median_score != b.median_score) return a.median_score > b.median_score;
  if (a.pass_rate != b.pass_rate) return a.pass_rate > b.pass_rate;
  return a.mean_cost < b.mean_cost;
}

TierMetrics ComputeTier(const Tier& tier, size_t tier_index, const PlanResults& results) {
  TierMetrics metrics;
  metrics.tier = tier.id;
  const SubtestMetrics* best = nullptr;
  for (size_t subtest = 0; subtest < tier.subtests.size(); ++subtest) {
    metrics.subtests.push_back(ComputeSubtest(tier, tier_index, subtest, results));
  }
  for (const SubtestMetrics& subtest : metrics.subtests) {
    metrics.expected_runs += subtest.expected_runs;
    metrics.runs += subtest.runs;
    metrics.passed += subtest.passed;
    metrics.total_cost += subtest.total_cost;
    AddTokensSaturating(metrics.tokens, subtest.tokens);
    // A sub-test without runs has no median to compare; it cannot be best.
    if (subtest.runs > 0 && (best == nullptr || RanksAbove(subtest, *best))) best = &subtest;
  }
  if (best != nullptr) {
    metrics.best_subtest = best->subtest;
    metrics.cost_of_pass = best->cost_of_pass;
  }
  return metrics;
}

}  // namespace

ExperimentMetrics ComputeMetrics(const Plan& plan, const std::vector<RunRecord>& records) {
  return ComputeMetrics(plan, PlanResults::FromRecords(plan, records));
}

ExperimentMetrics ComputeMetrics(const Plan& plan, const PlanResults& results) {
  ExperimentMetrics metrics;
  metrics.name = plan.name;
  for (size_t tier_index = 0; tier_index < plan.tiers.size(); ++tier_index) {
    const Tier& tier = plan.tiers[tier_index];
    TierMetrics computed = ComputeTier(tier, tier_index, results);
    metrics.expected_runs += computed.expected_runs;
    metrics.runs += computed.runs;
    metrics.passed += computed.passed;
    metrics.total_cost += computed.total_cost;
    AddTokensSaturating(metrics.tokens, computed.tokens);
    // Strictly lower only: the first tier in plan order wins a tie.
    if (computed.cost_of_pass && (!metrics.frontier_cost_of_pass ||
                                  *computed.cost_of_pass < *metrics.frontier_cost_of_pass)) {
      metrics.frontier_cost_of_pass = computed.cost_of_pass;
      metrics.frontier_tier = computed.tier;
    }
    metrics.tiers.push_back(std::move(computed));
  }
  return metrics;
}

}  // namespace tierun
