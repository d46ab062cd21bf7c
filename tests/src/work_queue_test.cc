#include "src/work_queue.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "tests/support/plan_builders.h"

namespace tierun {
namespace {

using test::MakeTier;

using Clock = WorkQueue::Clock;

const RunSelection kAll;

RunSelection Tiers(std::set<std::string> tiers) {
  RunSelection selection;
  selection.scope = RunSelection::Scope::kTiers;
  selection.tiers = std::move(tiers);
  return selection;
}

RunSelection Runs(std::set<RunId> runs) {
  RunSelection selection;
  selection.scope = RunSelection::Scope::kRuns;
  for (const RunId& run : runs) selection.tiers.insert(std::get<0>(run));
  selection.runs = std::move(runs);
  return selection;
}

auto NothingComplete = [](const std::string&, const std::string&, int) { return false; };

/// "T0/a/1" for each run Next() hands out until it has none.
std::vector<std::string> Drain(WorkQueue& queue, const Plan& plan) {
  std::vector<std::string> order;
  while (auto key = queue.Next(Clock::now())) {
    order.push_back(plan.tiers[key->tier].id + "/" + key->subtest + "/" + std::to_string(key->run));
  }
  return order;
}

// Every runnable tier gets its first run before any tier gets its second;
// within a tier, run 1 of every sub-test comes before run 2.
TEST(WorkQueueTest, ServesTiersRoundRobinAndRunsRunMajor) {
  Plan plan;
  plan.tiers = {MakeTier("T0", {"a", "b"}, 2), MakeTier("T1", {"x"}, 2), MakeTier("T2", {"p"}, 1)};
  WorkQueue queue(plan, kAll, NothingComplete);
  EXPECT_EQ(queue.Total(), 7u);
  EXPECT_EQ(Drain(queue, plan), (std::vector<std::string>{"T0/a/1", "T1/x/1", "T2/p/1", "T0/b/1",
                                                          "T1/x/2", "T0/a/2", "T0/b/2"}));
}

// A dependent tier starts only when every run of its dependencies finished.
TEST(WorkQueueTest, DependentTierWaitsForItsDependencies) {
  Plan plan;
  plan.tiers = {MakeTier("T0", {"a"}, 1), MakeTier("T1", {"b"}, 1),
                MakeTier("T5", {"c"}, 1, {"T0", "T1"})};
  WorkQueue queue(plan, kAll, NothingComplete);
  auto first = queue.Next(Clock::now());
  auto second = queue.Next(Clock::now());
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(queue.Next(Clock::now())) << "T5 must wait";
  EXPECT_FALSE(queue.TierRunnable(2));
  queue.Finish(*first);
  EXPECT_FALSE(queue.Next(Clock::now())) << "T5 must wait for T1 too";
  queue.Finish(*second);
  EXPECT_TRUE(queue.TierRunnable(2));
  auto third = queue.Next(Clock::now());
  ASSERT_TRUE(third);
  EXPECT_EQ(plan.tiers[third->tier].id, "T5");
  queue.Finish(*third);
  EXPECT_TRUE(queue.AllDone());
}

// Runs complete in an earlier session are not queued; a tier whose runs are
// all complete counts as done for its dependents.
TEST(WorkQueueTest, SkipsCompleteRuns) {
  Plan plan;
  plan.tiers = {MakeTier("T0", {"a", "b"}, 1), MakeTier("T1", {"c"}, 1, {"T0"})};
  WorkQueue queue(plan, kAll,
                  [](const std::string& tier, const std::string&, int) { return tier == "T0"; });
  EXPECT_EQ(queue.Total(), 3u);
  EXPECT_EQ(queue.Unfinished(), 1u);
  EXPECT_EQ(Drain(queue, plan), std::vector<std::string>{"T1/c/1"});
}

// A retried run waits for its backoff and then goes first in its tier, with
// the next attempt number.
TEST(WorkQueueTest, RetryWaitsForBackoff) {
  Plan plan;
  plan.tiers = {MakeTier("T0", {"a", "b"}, 1)};
  WorkQueue queue(plan, kAll, NothingComplete);
  const Clock::time_point now = Clock::now();
  auto first = queue.Next(now);
  ASSERT_TRUE(first);
  queue.Retry(*first, now + std::chrono::seconds(10));
  EXPECT_EQ(queue.NextRetryTime(), now + std::chrono::seconds(10));
  auto second = queue.Next(now);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->subtest, "b");
  EXPECT_FALSE(queue.HasReady(now));
  EXPECT_FALSE(queue.Next(now));
  auto again = queue.Next(now + std::chrono::seconds(10));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->subtest, "a");
  EXPECT_EQ(again->attempt, 2);
  EXPECT_EQ(queue.Unfinished(), 2u);
}

// A run taken but not started (a pause withdrew its launch) comes back first
// in its tier with the same attempt, once `not_before` has passed.
TEST(WorkQueueTest, PutBackKeepsTheAttemptAndGoesFirst) {
  Plan plan;
  plan.tiers = {MakeTier("T0", {"a", "b"}, 1)};
  WorkQueue queue(plan, kAll, NothingComplete);
  const Clock::time_point now = Clock::now();
  auto first = queue.Next(now);
  ASSERT_TRUE(first);
  queue.PutBack(*first, now + std::chrono::seconds(5));
  EXPECT_EQ(queue.NextRetryTime(), now + std::chrono::seconds(5));
  EXPECT_EQ(queue.Next(now)->subtest, "b");
  EXPECT_FALSE(queue.Next(now));
  auto again = queue.Next(now + std::chrono::seconds(5));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->subtest, "a");
  EXPECT_EQ(again->attempt, 1);
  EXPECT_EQ(queue.Unfinished(), 2u);
}

// --tiers: unselected tiers are not run, and do not hold back dependents.
TEST(WorkQueueTest, SelectionIgnoresUnselectedDependencies) {
  Plan plan;
  plan.tiers = {MakeTier("T0", {"a"}, 1), MakeTier("T5", {"c"}, 1, {"T0"})};
  WorkQueue queue(plan, Tiers({"T5"}), NothingComplete);
  EXPECT_EQ(queue.Total(), 1u);
  EXPECT_EQ(Drain(queue, plan), std::vector<std::string>{"T5/c/1"});
}

// --runs: only the listed runs are queued and counted, in the usual order.
TEST(WorkQueueTest, RunSelectionQueuesOnlyThoseRuns) {
  Plan plan;
  plan.tiers = {MakeTier("T0", {"a", "b"}, 3), MakeTier("T1", {"x"}, 2)};
  WorkQueue queue(plan, Runs({{"T0", "b", 2}, {"T0", "a", 3}, {"T1", "x", 1}}), NothingComplete);
  EXPECT_EQ(queue.Total(), 3u);
  EXPECT_EQ(queue.Unfinished(), 3u);
  EXPECT_EQ(Drain(queue, plan), (std::vector<std::string>{"T0/b/2", "T1/x/1", "T0/a/3"}));
}

// --runs: a selected run already complete counts in Total() but not in
// Unfinished(); runs outside the selection count in neither.
TEST(WorkQueueTest, RunSelectionCountsCompleteSelectedRuns) {
  Plan plan;
  plan.tiers = {MakeTier("T0", {"a"}, 3)};
  WorkQueue queue(plan, Runs({{"T0", "a", 1}, {"T0", "a", 2}}),
                  [](const std::string&, const std::string&, int run) { return run != 2; });
  EXPECT_EQ(queue.Total(), 2u);
  EXPECT_EQ(queue.Unfinished(), 1u);
  EXPECT_EQ(Drain(queue, plan), std::vector<std::string>{"T0/a/2"});
}

// --runs: a selected run of a dependent tier waits for the selected runs of
// its dependencies only; unselected runs never hold it back.
TEST(WorkQueueTest, RunSelectionWaitsForSelectedDependencyRunsOnly) {
  Plan plan;
  plan.tiers = {MakeTier("T0", {"a", "b"}, 2), MakeTier("T1", {"x"}, 1),
                MakeTier("T5", {"c"}, 1, {"T0", "T1"})};
  WorkQueue queue(plan, Runs({{"T0", "a", 1}, {"T5", "c", 1}}), NothingComplete);
  auto first = queue.Next(Clock::now());
  ASSERT_TRUE(first);
  EXPECT_EQ(plan.tiers[first->tier].id + "/" + first->subtest, "T0/a");
  EXPECT_FALSE(queue.Next(Clock::now())) << "T5/c/1 must wait for T0/a/1";
  queue.Finish(*first);
  EXPECT_EQ(Drain(queue, plan), std::vector<std::string>{"T5/c/1"});
  EXPECT_FALSE(queue.TierRunnable(1)) << "T1 has no selected run";
}

}  // namespace
}  // namespace tierun
