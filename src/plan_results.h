#pragma once

/// The outcome of every run of a plan that has one, in a slot per planned
/// run: what the reports above the run level are built from (metrics.h,
/// reports.h). The slots are taken when the table is made, about 120 bytes a
/// run, so a runner's memory does not grow as its runs finish; keeping their
/// records instead took some 370 bytes a run, taken run by run.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/plan.h"
#include "src/run_record.h"

namespace tierun {

/// What the reports use of a run's record: all of it but the run's ids (its
/// slot says them) and its timestamps.
struct RunOutcome {
  std::string status;
  bool passed = false;
  int attempts = 1;
  double score = 0;
  std::optional<double> cost_usd;
  TokenCounts tokens;
  std::optional<int> exit_code;
  std::optional<int> signal;
  double duration_s = 0;

  static RunOutcome Of(const RunRecord& record);
};

class PlanResults {
 public:
  /// `plan` must outlive the table.
  explicit PlanResults(const Plan& plan);
  static PlanResults FromRecords(const Plan& plan, const std::vector<RunRecord>& records);

  /// Keeps the outcome of `record`'s run, unless the run has one already (a
  /// later record of a run is ignored, see metrics.h) or the plan has no such
  /// run.
  void Add(const RunRecord& record);
  /// The run's outcome; null when it has none. By ids, or by the indices of
  /// its tier in the plan and of its sub-test in the tier.
  const RunOutcome* Find(std::string_view tier, std::string_view subtest, int run) const;
  const RunOutcome* Find(size_t tier, size_t subtest, int run) const;
  /// How many runs have an outcome.
  size_t count() const { return count_; }

 private:
  static constexpr size_t kNoSlot = static_cast<size_t>(-1);
  size_t Slot(std::string_view tier, std::string_view subtest, int run) const;

  const Plan* plan_;
  std::vector<size_t> first_slot_of_tier_;
  /// The tier and sub-test indices of each (tier, sub-test) id pair.
  std::map<std::pair<std::string_view, std::string_view>, std::pair<size_t, size_t>> indices_;
  std::vector<std::optional<RunOutcome>> outcomes_;
  size_t count_ = 0;
};

}  // namespace tierun
