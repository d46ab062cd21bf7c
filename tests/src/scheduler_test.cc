// The event loop meets a start that is still under way when a stop comes:
// the launcher thread is held inside the start (SchedulerOptions::
// start_attempt) until the stop is journaled, so the case is reached every
// time, not by luck of timing.

#include "src/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "src/agent_pool.h"
#include "src/atomic_file.h"
#include "src/work_queue.h"
#include "tests/support/jobserver_printers.h"
#include "tests/support/plan_builders.h"
#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

using ::testing::HasSubstr;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Waits until the file `path` holds `needle`, woken by inotify on its
/// directory; false after `timeout` without it.
bool WaitForText(const std::string& path, const std::string& needle,
                 std::chrono::milliseconds timeout) {
  jobserver::UniqueFd watch(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!watch) return false;
  const std::string dir = path.substr(0, path.rfind('/'));
  if (inotify_add_watch(watch.get(), dir.c_str(), IN_CREATE | IN_MODIFY) == -1) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (ReadText(path).find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    struct pollfd readable = {watch.get(), POLLIN, 0};
    if (left.count() <= 0 || poll(&readable, 1, static_cast<int>(left.count())) <= 0) return false;
    char events[4096];
    while (read(watch.get(), events, sizeof events) > 0) {
    }
  }
  return true;
}

std::vector<nlohmann::json> Journal(const std::string& path) {
  std::vector<nlohmann::json> events;
  std::istringstream lines(ReadText(path));
  for (std::string line; std::getline(lines, line);) events.push_back(nlohmann::json::parse(line));
  return events;
}

TEST(SchedulerTest, AStopDuringAStartStopsTheAgentItStartsAndLeavesItsRunUndone) {
  test::ScopedTempDir dir;
  const std::string experiment = dir.path() + "/stopping";
  ASSERT_TRUE(MakeDirectories(experiment).ok());
  const std::string journal = experiment + "/events.jsonl";
  // "first" passes at once; "second" would run for 30 s unless stopped.
  Plan plan = test::MakePlan("stopping", {test::MakeTier("A", {"first", "second"}, 1)});
  plan.tiers[0].agent.argv = {"/bin/sh", "-c", "test \"$TIERUN_SUBTEST\" = first || exec sleep 30"};
  WorkQueue queue(plan, RunSelection{},
                  [](const std::string&, const std::string&, int) { return false; });
  jobserver::Result<ScopedSignalFd> signals = ScopedSignalFd::BlockTerminationSignals();
  ASSERT_TRUE(signals.ok()) << signals.error().message;
  int signal_seen = 0;
  jobserver::Result<AgentPool> pool =
      OpenAgentPool({1, std::nullopt}, jobserver::MakeflagsEnvironment{}, *signals, &signal_seen);
  ASSERT_TRUE(pool.ok()) << pool.error().message;
  EventLog events(journal);
  Progress progress(ProgressMode::kNone, plan, stderr);

  SchedulerOptions options;
  options.grace = std::chrono::hours(1);  // A stop that waited for the grace would show.
  bool held = false;
  bool stop_journaled = false;
  options.start_attempt = [&](const AttemptSpec& spec) {
    if (spec.subtest == "second") {
      held = true;
      // Blocked in every thread, SIGTERM waits for the event loop's signalfd;
      // the start goes on only once the loop has begun the stop.
      kill(getpid(), SIGTERM);
      stop_journaled = WaitForText(journal, "\"event\":\"stop\"", std::chrono::seconds(20));
    }
    return StartAttempt(spec);
  };
  PlanResults results(plan);
  Scheduler scheduler(plan, experiment, queue, *pool->client, events, progress, results, options);
  EXPECT_EQ(scheduler.Run(*signals), SIGTERM);

  ASSERT_TRUE(held) << "the second run's start was never reached";
  EXPECT_TRUE(stop_journaled) << "the stop was not journaled while the start was held";
  int second_pid = 0;
  std::string second_ended;
  for (const nlohmann::json& event : Journal(journal)) {
    if (event.value("subtest", "") != "second") continue;
    if (event["event"] == "start") second_pid = event["pid"];
    if (event["event"] == "interrupted") second_ended = event["status"];
  }
  EXPECT_GT(second_pid, 0) << "the held start did not start the agent";
  // Stopped with SIGTERM as soon as it started, not left to run its 30 s.
  EXPECT_THAT(second_ended, HasSubstr("signal 15"));
  EXPECT_NE(ReadText(experiment + "/A/first/run_01/report.json"), "");
  // The outcomes the reports at the end are built from: the finished run's.
  EXPECT_NE(results.Find("A", "first", 1), nullptr);
  EXPECT_EQ(results.Find("A", "second", 1), nullptr);
  EXPECT_EQ(ReadText(experiment + "/A/second/run_01/report.json"), "")
      << "the stopped run has a report";
}

// With --experiment-slots 1, each agent holds the experiment's one slot
// file while it starts and runs, so another runner of the experiment can
// take none meanwhile; the agents take turns (a pool of 3 would allow 3),
// and the slot is free again at the end.
TEST(SchedulerTest, EachAgentHoldsAnExperimentSlot) {
  test::ScopedTempDir dir;
  const std::string experiment = dir.path() + "/slots";
  ASSERT_TRUE(MakeDirectories(experiment).ok());
  Plan plan = test::MakePlan("slots", {test::MakeTier("A", {"a", "b", "c"}, 1)});
  plan.tiers[0].agent.argv = {"/bin/true"};
  WorkQueue queue(plan, RunSelection{},
                  [](const std::string&, const std::string&, int) { return false; });
  jobserver::Result<ScopedSignalFd> signals = ScopedSignalFd::BlockTerminationSignals();
  ASSERT_TRUE(signals.ok()) << signals.error().message;
  int signal_seen = 0;
  jobserver::Result<AgentPool> pool =
      OpenAgentPool({3, std::nullopt}, jobserver::MakeflagsEnvironment{}, *signals, &signal_seen);
  ASSERT_TRUE(pool.ok()) << pool.error().message;
  auto ours = ExperimentSlots::Open(ExperimentSlots::DirectoryFor(experiment), 1);
  auto other_runner = ExperimentSlots::Open(ExperimentSlots::DirectoryFor(experiment), 1);
  ASSERT_TRUE(ours && other_runner);
  EventLog events(experiment + "/events.jsonl");
  Progress progress(ProgressMode::kNone, plan, stderr);
  SchedulerOptions options;
  options.cap = pool->cap;
  options.experiment_slots = ours->get();
  int starts = 0;
  int starts_beside_another_runner = 0;
  options.start_attempt = [&](const AttemptSpec& spec) {
    ++starts;
    if ((*other_runner)->TryTake().valid()) ++starts_beside_another_runner;
    return StartAttempt(spec);
  };
  PlanResults results(plan);
  Scheduler scheduler(plan, experiment, queue, *pool->client, events, progress, results, options);
  EXPECT_EQ(scheduler.Run(*signals), 0);
  EXPECT_EQ(starts, 3);
  EXPECT_EQ(starts_beside_another_runner, 0);
  int most_running = 0;
  for (const nlohmann::json& event : Journal(experiment + "/events.jsonl")) {
    if (event["event"] == "start")
      most_running = std::max(most_running, event["running"].get<int>());
  }
  EXPECT_EQ(most_running, 1);
  EXPECT_TRUE((*other_runner)->TryTake().valid()) << "the slot was not given back";
}

}  // namespace
}  // namespace tierun
