#include "src/work_queue.h"

#include <algorithm>

namespace tierun {

void WorkQueue::Add(size_t tier, const std::string& subtest, int run) {
  tiers_[tier].queue.push_back({RunKey{tier, subtest, run, 1}, Clock::time_point::min()});
  ++tiers_[tier].unfinished;
  ++unfinished_;
}

bool WorkQueue::TierRunnable(size_t tier) const {
  const TierState& state = tiers_[tier];
  if (!state.selected) return false;
  return std::all_of(state.depends_on.begin(), state.depends_on.end(),
                     [this](size_t dependency) { return TierDone(dependency); });
}

std::optional<RunKey> WorkQueue::Next(Clock::time_point now) {
  for (size_t step = 0; step < tiers_.size(); ++step) {
    const size_t tier = (cursor_ + step) % tiers_.size();
    if (!TierRunnable(tier)) continue;
    std::deque<Pending>& queue = tiers_[tier].queue;
    auto ready = std::find_if(queue.begin(), queue.end(),
                              [now](const Pending& pending) { return pending.not_before <= now; });
    if (ready == queue.end()) continue;
    RunKey key = ready->key;
    queue.erase(ready);
    cursor_ = (tier + 1) % tiers_.size();  // The next turn is the next tier's.
    return key;
  }
  return std::nullopt;
}

bool WorkQueue::HasReady(Clock::time_point now) const {
  for (size_t tier = 0; tier < tiers_.size(); ++tier) {
    if (!TierRunnable(tier)) continue;
    for (const Pending& pending : tiers_[tier].queue) {
      if (pending.not_before <= now) return true;
    }
  }
  return false;
}

void WorkQueue::Retry(RunKey key, Clock::time_point not_before) {
  ++key.attempt;
  PutBack(std::move(key), not_before);
}

void WorkQueue::PutBack(RunKey key, Clock::time_point not_before) {
  tiers_[key.tier].queue.push_front({std::move(key), not_before});
}

void WorkQueue::Finish(const RunKey& key) {
  --tiers_[key.tier].unfinished;
  --unfinished_;
}

std::optional<WorkQueue::Clock::time_point> WorkQueue::NextRetryTime() const {
  std::optional<Clock::time_point> earliest;
  for (size_t tier = 0; tier < tiers_.size(); ++tier) {
    if (!TierRunnable(tier)) continue;
    // Retries are pushed to the front and first attempts to the back, so the
    // retries end at the first first-attempt: stop there, or every event of
    // the scheduler would walk every queued run (O(runs) per event).
    for (const Pending& pending : tiers_[tier].queue) {
      if (pending.not_before == Clock::time_point::min()) break;
      if (!earliest || pending.not_before < *earliest) earliest = pending.not_before;
    }
  }
  return earliest;
}

bool WorkQueue::AllDone() const { return unfinished_ == 0; }

}  // namespace tierun
