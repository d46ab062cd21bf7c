#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "src/agent_pool.h"
#include "src/commands.h"
#include "tests/support/plan_builders.h"

namespace tierun {
namespace {

using test::MakePlan;
using test::MakeTier;

jobserver::MakeflagsEnvironment NoMake() { return {}; }

// Under ctest without -j, the own pool has exactly the slots ctest gave,
// even more than the CPUs: ctest decided how many agents the test runs.
TEST(RunPoolSlotsTest, CTestSlotsWithoutJobsAreThePool) {
  const int beyond_cpus = DefaultJobs() + 3;
  EXPECT_EQ(RunPoolSlots(0, NoMake(), beyond_cpus), beyond_cpus);
  EXPECT_EQ(RunPoolSlots(0, NoMake(), 1), 1);
}

// -j N and ctest slots: the smaller wins.
TEST(RunPoolSlotsTest, JobsAndCTestSlotsTakeTheSmaller) {
  EXPECT_EQ(RunPoolSlots(8, NoMake(), 2), 2);
  EXPECT_EQ(RunPoolSlots(2, NoMake(), 8), 2);
}

// No ctest slots: the pool of tierun exec and serve (-j N, else the CPUs).
TEST(RunPoolSlotsTest, WithoutCTestSlotsAsOwnPool) {
  EXPECT_EQ(RunPoolSlots(3, NoMake(), std::nullopt), 3);
  EXPECT_EQ(RunPoolSlots(0, NoMake(), std::nullopt), DefaultJobs());
}

// A pool tierun creates caps the agents at its size: tokens an agent writes
// into it must not start more (faults.agent_forged_tokens).
TEST(OpenAgentPoolTest, OwnPoolCapsAgentsAtItsSize) {
  auto signals = ScopedSignalFd::BlockTerminationSignals();
  ASSERT_TRUE(signals) << signals.error().message;
  int signal = 0;
  for (const auto& [request, slots] :
       {std::pair<AgentPoolRequest, int>{{3, std::nullopt}, 3}, {{0, 2}, 2}, {{5, 4}, 4}}) {
    jobserver::Result<AgentPool> pool = OpenAgentPool(request, NoMake(), *signals, &signal);
    ASSERT_TRUE(pool) << pool.error().message;
    ASSERT_TRUE(pool->server.has_value());
    EXPECT_EQ(pool->server->slots(), slots);
    EXPECT_EQ(pool->cap, slots);
  }
}

// `tierun list`: the exact lines the CMake module parses -- tiers in plan
// order with their run counts and dependencies, then the runs, sub-test by
// sub-test.
TEST(RunListTest, PrintsTiersThenRuns) {
  Plan plan = MakePlan("e2e", {MakeTier("T0", {"00-baseline", "01-terse"}, 2),
                               MakeTier("T1", {"x"}, 1), MakeTier("T5", {"s"}, 2, {"T0", "T1"})});
  EXPECT_EQ(RenderRunList(plan, "/work/results/e2e"),
            "experiment e2e /work/results/e2e\n"
            "tier T0 4 -\n"
            "tier T1 1 -\n"
            "tier T5 2 T0,T1\n"
            "run T0/00-baseline/1\n"
            "run T0/00-baseline/2\n"
            "run T0/01-terse/1\n"
            "run T0/01-terse/2\n"
            "run T1/x/1\n"
            "run T5/s/1\n"
            "run T5/s/2\n");
}

}  // namespace
}  // namespace tierun
