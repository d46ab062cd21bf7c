// Micro-benchmarks of the runner's bookkeeping, with no processes: what one
// scheduling event costs as the queue grows (it must stay flat: O(1) per
// event), and building every report of a large experiment.

#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "src/metrics.h"
#include "src/reports.h"
#include "src/run_selection.h"
#include "src/work_queue.h"
#include "tests/support/plan_builders.h"

namespace tierun {
namespace {

constexpr int kTiers = 5;

/// `runs` runs in all: kTiers tiers of one sub-test each.
Plan PlanOfRuns(int64_t runs) {
  std::vector<Tier> tiers;
  for (int tier = 0; tier < kTiers; ++tier) {
    tiers.push_back(
        test::MakeTier("T" + std::to_string(tier), {"s"}, static_cast<int>(runs / kTiers)));
  }
  return test::MakePlan("bench", std::move(tiers));
}

// One event of the scheduler's queue, with the questions the scheduler asks
// on every wake-up (HasReady, NextRetryTime): the next run to start, then its
// end. The queue holds range(0) runs; the time per event must not grow.
void BM_WorkQueueEvent(benchmark::State& state) {
  const Plan plan = PlanOfRuns(state.range(0));
  const auto never_done = [](const std::string&, const std::string&, int) { return false; };
  auto selection = SelectRuns(plan, {}, {});
  WorkQueue queue(plan, *selection, never_done);
  const auto now = WorkQueue::Clock::now();
  int64_t events = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(queue.HasReady(now));
    benchmark::DoNotOptimize(queue.NextRetryTime());
    std::optional<RunKey> key = queue.Next(now);
    if (!key) {
      state.PauseTiming();
      queue = WorkQueue(plan, *selection, never_done);
      state.ResumeTiming();
      continue;
    }
    queue.Finish(*key);
    ++events;
  }
  state.SetItemsProcessed(events);
}
BENCHMARK(BM_WorkQueueEvent)->RangeMultiplier(10)->Range(1000, 1000000);

// Every report above the run level, from 10^5 run records.
void BM_BuildReports(benchmark::State& state) {
  const Plan plan = PlanOfRuns(state.range(0));
  std::vector<RunRecord> records;
  for (const Tier& tier : plan.tiers) {
    for (int run = 1; run <= tier.runs; ++run) {
      records.push_back(test::MakeRecord(tier.id, "s", run, (run % 10) / 10.0, run % 3 != 0, 0.01));
    }
  }
  for (auto _ : state) {
    const ExperimentMetrics metrics = ComputeMetrics(plan, records);
    benchmark::DoNotOptimize(ExperimentReportJson(metrics).dump());
    benchmark::DoNotOptimize(RenderReportMarkdown(metrics));
    benchmark::DoNotOptimize(RenderJunitXml(plan, records));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(records.size()));
}
BENCHMARK(BM_BuildReports)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tierun

BENCHMARK_MAIN();
