#pragma once

/// Which run starts next (docs/design.md section 4.4).
///
/// Tiers whose dependencies are done are *runnable*; they are served
/// round-robin, one run per turn, so every runnable tier gets its first agent
/// before any tier gets its second. Within a tier, runs go run-major (run 1
/// of every sub-test, then run 2, ...), so early results cover every
/// sub-test. A run that needs another attempt goes back to the front of its
/// tier's queue once its backoff has passed. A tier is done when every run
/// in it is finished; tiers depending on it become runnable then.
///
/// Only the runs of a RunSelection are queued (--tiers, --runs); a tier's
/// dependencies outside the selection count as done, and Total() and
/// Unfinished() count selected runs only.

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "src/plan.h"
#include "src/run_selection.h"

namespace tierun {

/// One run of one sub-test, and which attempt comes next.
struct RunKey {
  size_t tier = 0;  ///< Index into Plan::tiers.
  std::string subtest;
  int run = 1;
  int attempt = 1;
  bool operator==(const RunKey& other) const {
    return tier == other.tier && subtest == other.subtest && run == other.run;
  }
};

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;

  /// `selection`: the runs to run (dependencies outside it count as done).
  /// `is_complete(tier, subtest, run)`: runs finished in an earlier session.
  template <typename IsComplete>
  WorkQueue(const Plan& plan, const RunSelection& selection, IsComplete is_complete);

  /// The next run to start now, or nullopt (nothing runnable, or every
  /// runnable run waits for its backoff). Moves the round-robin cursor.
  std::optional<RunKey> Next(Clock::time_point now);
  /// The run will get another attempt, not before `not_before`.
  void Retry(RunKey key, Clock::time_point not_before);
  /// The run was taken by Next() but did not start: the same attempt goes
  /// back to the front of its tier, not before `not_before` (which must not
  /// be time_point::min(), the mark of a first attempt never taken).
  void PutBack(RunKey key, Clock::time_point not_before);
  /// The run is finished for good (report written).
  void Finish(const RunKey& key);

  /// True when Next(now) would return a run.
  bool HasReady(Clock::time_point now) const;
  /// Earliest time a waiting retry becomes startable, if any is waiting.
  std::optional<Clock::time_point> NextRetryTime() const;
  bool AllDone() const;
  /// Runs not yet finished (queued, retrying or running).
  size_t Unfinished() const { return unfinished_; }
  size_t Total() const { return total_; }
  bool TierDone(size_t tier) const { return tiers_[tier].unfinished == 0; }
  bool TierRunnable(size_t tier) const;

 private:
  struct Pending {
    RunKey key;
    Clock::time_point not_before;
  };
  struct TierState {
    bool selected = false;
    std::deque<Pending> queue;
    size_t unfinished = 0;
    std::vector<size_t> depends_on;
  };
  void Add(size_t tier, const std::string& subtest, int run);

  std::vector<TierState> tiers_;
  size_t cursor_ = 0;
  size_t unfinished_ = 0;
  size_t total_ = 0;
};

template <typename IsComplete>
WorkQueue::WorkQueue(const Plan& plan, const RunSelection& selection, IsComplete is_complete)
    : tiers_(plan.tiers.size()) {
  for (size_t index = 0; index < plan.tiers.size(); ++index) {
    tiers_[index].selected = selection.HasTier(plan.tiers[index].id);
  }
  for (size_t index = 0; index < plan.tiers.size(); ++index) {
    const Tier& tier = plan.tiers[index];
    for (const std::string& dependency : tier.depends_on) {
      for (size_t other = 0; other < plan.tiers.size(); ++other) {
        if (plan.tiers[other].id == dependency && tiers_[other].selected) {
          tiers_[index].depends_on.push_back(other);
        }
      }
    }
    if (!tiers_[index].selected) continue;
    for (int run = 1; run <= tier.runs; ++run) {
      for (const std::string& subtest : tier.subtests) {
        if (!selection.Has(tier.id, subtest, run)) continue;
        ++total_;
        if (!is_complete(tier.id, subtest, run)) Add(index, subtest, run);
      }
    }
  }
}

}  // namespace tierun
