#pragma once

/// The event loop of `tierun run` (docs/design.md section 4.5).
///
/// One poll() over the signalfd, the jobserver's readiness fd and every
/// child's pidfd, with a timeout for the next deadline (an attempt's
/// timeout, a grace period, a retry's backoff, the end of a rate-limit
/// pause). A slot is taken right before an agent or judge is spawned and
/// given back when it is reaped, however it ended. Judges of finished agents
/// go before new agents, so started runs complete first. A run that failed
/// transiently is retried after an exponential backoff with jitter, holding
/// no slot while it waits; a `retry_after_s` pauses every launch, in every
/// tier. The first SIGINT/SIGTERM stops launching and sends SIGTERM to every
/// agent's group, SIGKILL after the grace period (at once on a second signal).

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "jobserver/client.h"
#include "src/agent_process.h"
#include "src/attempt_launcher.h"
#include "src/containment_posix.h"
#include "src/event_log.h"
#include "src/experiment_slots_posix.h"
#include "src/json_text.h"
#include "src/plan.h"
#include "src/plan_results.h"
#include "src/progress.h"
#include "src/signals_posix.h"
#include "src/slot_claim_posix.h"
#include "src/work_queue.h"

namespace tierun {

struct SchedulerOptions {
  /// At most this many agents and judges at once on top of the pool's own
  /// limit; 0 = the pool alone.
  int cap = 0;
  std::chrono::milliseconds grace{std::chrono::seconds(5)};
  std::vector<std::pair<std::string, std::string>> pool_environment;
  std::vector<int> inherit_fds;
  /// The implicit slot of the paid process above us, shared with the other
  /// tierun processes below it (agent_pool.h): claimed for one agent at a
  /// time, before a token is read, and given back when that agent ends, so a
  /// sibling waiting for it gets it. Null when the slot is ours (the client
  /// hands it out) or not ours at all.
  ImplicitSlotClaim* shared_slot = nullptr;
  /// The experiment's slots across every runner (--experiment-slots): one
  /// is taken before the jobserver slot of each agent or judge, and given
  /// back when it is reaped. Null when not asked for.
  ExperimentSlots* experiment_slots = nullptr;
  /// Starts each attempt on the launcher thread. A test puts a hold in front
  /// of StartAttempt() to have a stop arrive while a start is under way.
  AttemptLauncher::StartFunction start_attempt = StartAttempt;
  /// Holds each attempt and everything it starts (containment_posix.h);
  /// null: its process group alone.
  Containment* containment = nullptr;
};

class Scheduler {
 public:
  /// The outcome of each run this session finishes goes into `results`, as
  /// its report.json is written: the reports at the end are built from it
  /// rather than read back from disk.
  Scheduler(const Plan& plan, std::string experiment_dir, WorkQueue& queue,
            jobserver::Client& client, EventLog& events, Progress& progress, PlanResults& results,
            SchedulerOptions options);
  ~Scheduler();

  /// Run()'s result when results could not be written.
  static constexpr int kStopForFailure = -1;

  /// Runs until every queued run is finished, or until a termination signal
  /// has stopped every running agent. Returns that signal's number, 0, or
  /// kStopForFailure when a run report could not be written.
  int Run(ScopedSignalFd& signals);

 private:
  using Clock = std::chrono::steady_clock;
  struct Child;
  /// An attempt handed to the launcher thread, and the slot it will run on.
  struct Launching {
    RunKey key;
    jobserver::Token token;
    bool on_shared_slot = false;
    std::optional<RunRecord> judged;  ///< For a judge: the agent's record.
    int box = -1;                     ///< Its cgroup (Containment), or -1.
    ExperimentSlot experiment_slot = {};
  };

  static constexpr double kMaxPauseSeconds = 24 * 3600;

  void LaunchWhatFits();
  /// A slot for one more agent: one of the experiment's slots first (when
  /// asked for), then the shared implicit slot when we can take it, else a
  /// token. False when not all are free now.
  bool AcquireSlot(jobserver::Token& token, bool& on_shared_slot, ExperimentSlot& experiment_slot);
  /// Whether we hold an experiment slot for the next agent, or need none.
  bool HasExperimentSlot() const;
  /// While we want a slot and hold no experiment slot, helpers wait for one;
  /// when we do not want one, what we hold for no agent goes back. Returns
  /// the fd to poll (-1 for none).
  int TendExperimentSlots(bool want_slot);
  /// While we want a slot, a helper waits for the shared one; when we do not,
  /// we hold it for no agent. Returns the fd to poll (-1 for none).
  int TendSharedSlot(bool want_slot);
  void ReleaseSharedSlot(bool on_shared_slot);
  /// Has the agent started, or with `judged` (the agent's record) its judge:
  /// the launcher thread starts it, and CollectStarted() takes it from there.
  void Launch(RunKey key, jobserver::Token token, bool on_shared_slot,
              std::optional<RunRecord> judged, ExperimentSlot experiment_slot);
  void CollectStarted();
  void AddChild(Launching launching, Subprocess process, const AttemptLauncher::Started& started);
  /// Takes back the launches the launcher has not begun: their slots go
  /// back, their runs (or judges) wait again, not before `not_before`.
  void WithdrawLaunches(Clock::time_point not_before);
  void HandleSignals(ScopedSignalFd& signals);
  void ReapExited();
  /// After `child` ended: kills what it left (its group, its box, orphans).
  /// False while its box is still being emptied.
  bool Contained(Child& child);
  void ReleaseBox(int box);
  void PauseLaunches(double seconds, const RunKey& key);
  void Reap(Child& child, const ExitStatus& status);
  void FinishAgent(Child& child, const ExitStatus& status);
  void FinishJudge(Child& child, const ExitStatus& status);
  void Complete(const RunKey& key, RunRecord record);
  void ScheduleRetry(const RunKey& key, const std::string& why);
  void Stop(int signal_number);
  void HandleDeadlines(Clock::time_point now);
  int PollTimeoutMs(Clock::time_point now) const;
  bool CanLaunch(Clock::time_point now) const;
  bool HasStartableWork(Clock::time_point now) const;
  /// The run's directory while it is in progress: a hidden name chosen at
  /// its first launch in this session and kept for its retries and judge
  /// (results_dir.h); Complete() renames it to run_NN.
  const std::string& RunDir(const RunKey& key);
  /// The run's tier, subtest, run and attempt, to start a journal line.
  JsonLine Describe(const RunKey& key) const;

  const Plan& plan_;
  std::string experiment_dir_;
  WorkQueue& queue_;
  jobserver::Client& client_;
  EventLog& events_;
  Progress& progress_;
  PlanResults& results_;
  SchedulerOptions options_;
  std::vector<std::unique_ptr<Child>> children_;
  /// Attempts the launcher thread is starting, by ticket. They count against
  /// the cap and hold their slot as running children do.
  std::map<uint64_t, Launching> launching_;
  /// Destroyed before launching_ (declared after it): its thread ends, and
  /// whatever it started is killed, before those slots are given back.
  std::unique_ptr<AttemptLauncher> launcher_;
  /// Agents that finished and whose judge waits for a slot.
  std::vector<std::pair<RunKey, RunRecord>> judges_waiting_;
  Clock::time_point paused_until_ = Clock::time_point::min();
  int stop_signal_ = 0;
  bool killing_ = false;           ///< A second signal came: SIGKILL, no grace.
  bool shared_slot_busy_ = false;  ///< An agent of ours runs on options_.shared_slot.
  /// RunDir() of each run launched and not yet complete, by (tier, subtest, run).
  std::map<std::tuple<size_t, std::string, int>, std::string> run_dirs_;
  /// An experiment slot taken for the next agent, whose jobserver slot has
  /// not come yet. Always taken first, so no runner holds a token while it
  /// waits for an experiment slot: the two waits cannot deadlock.
  ExperimentSlot next_experiment_slot_;
};

}  // namespace tierun
