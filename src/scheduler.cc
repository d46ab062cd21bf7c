#include "src/scheduler.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "src/atomic_file.h"
#include "src/reports.h"
#include "src/results_dir.h"

namespace tierun {

struct Scheduler::Child {
  RunKey key;
  bool judge = false;
  Subprocess process;
  jobserver::Token token;
  Clock::time_point started;
  std::string started_at;
  std::optional<Clock::time_point> deadline = {};  ///< The attempt's timeout.
  std::optional<Clock::time_point> kill_at = {};   ///< SIGKILL after SIGTERM's grace.
  bool timed_out = false;
  RunRecord record = {};        ///< For a judge: the agent's record so far.
  bool on_shared_slot = false;  ///< Runs on options_.shared_slot, not on `token`.
  int box = -1;                 ///< Its cgroup (Containment), or -1.
  /// Its process ended with this status, and what it left in its box is
  /// being killed: the slot goes back once the box is empty.
  std::optional<ExitStatus> draining = {};
  ExperimentSlot experiment_slot = {};  ///< Given back when the child is destroyed.
};

namespace {

constexpr size_t kStderrTailBytes = 64 * 1024;

double Seconds(std::chrono::steady_clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}

/// Backoff before attempt `next_attempt`: backoff * 2^(n-2), times a jitter
/// in [1, 1.25) so retries of many runs do not arrive in step.
std::chrono::milliseconds Backoff(const RetryPolicy& retry, int next_attempt) {
  static std::minstd_rand random(static_cast<unsigned>(getpid()));
  std::uniform_real_distribution<double> jitter(1.0, 1.25);
  const double base =
      static_cast<double>(retry.backoff.count()) * std::pow(2.0, std::max(0, next_attempt - 2));
  return std::chrono::milliseconds(static_cast<int64_t>(base * jitter(random)));
}

/// Adds the cost and tokens of attempts 1..attempt-1 (result.attemptN.json)
/// to `report`: a retried run cost all of its attempts.
void AddEarlierAttempts(const std::string& run_dir, int attempt, AgentReport& report) {
  for (int earlier = 1; earlier < attempt; ++earlier) {
    auto previous =
        ReadAgentReport(run_dir + "/result.attempt" + std::to_string(earlier) + ".json");
    if (!previous || !previous->cost_usd) continue;
    report.cost_usd = report.cost_usd.value_or(0) + *previous->cost_usd;
    report.tokens.input += previous->tokens.input;
    report.tokens.output += previous->tokens.output;
  }
}

}  // namespace

Scheduler::Scheduler(const Plan& plan, std::string experiment_dir, WorkQueue& queue,
                     jobserver::Client& client, EventLog& events, Progress& progress,
                     PlanResults& results, SchedulerOptions options)
    : plan_(plan),
      experiment_dir_(std::move(experiment_dir)),
      queue_(queue),
      client_(client),
      events_(events),
      progress_(progress),
      results_(results),
      options_(std::move(options)) {}

Scheduler::~Scheduler() = default;

const std::string& Scheduler::RunDir(const RunKey& key) {
  auto [found, added] = run_dirs_.try_emplace({key.tier, key.subtest, key.run});
  if (added) {
    found->second = experiment_dir_ + "/" + plan_.tiers[key.tier].id + "/" + key.subtest + "/" +
                    NewInProgressRunName(key.run);
  }
  return found->second;
}

JsonLine Scheduler::Describe(const RunKey& key) const {
  JsonLine line;
  line.AddString("tier", plan_.tiers[key.tier].id)
      .AddString("subtest", key.subtest)
      .AddInteger("run", key.run)
      .AddInteger("attempt", key.attempt);
  return line;
}

bool Scheduler::CanLaunch(Clock::time_point now) const {
  if (stop_signal_ != 0 || now < paused_until_) return false;
  return options_.cap <= 0 || static_cast<int>(children_.size() + launching_.size()) < options_.cap;
}

bool Scheduler::HasStartableWork(Clock::time_point now) const {
  return !judges_waiting_.empty() || queue_.HasReady(now);
}

bool Scheduler::AcquireSlot(jobserver::Token& token, bool& on_shared_slot,
                            ExperimentSlot& experiment_slot) {
  if (options_.experiment_slots != nullptr && !next_experiment_slot_.valid()) {
    next_experiment_slot_ = options_.experiment_slots->TryTake();
    if (!next_experiment_slot_.valid()) return false;
  }
  ImplicitSlotClaim* shared = options_.shared_slot;
  if (shared != nullptr && !shared_slot_busy_ && !shared->waiting() &&
      (shared->held() || shared->TryClaim())) {
    shared_slot_busy_ = on_shared_slot = true;
  } else {
    token = client_.TryAcquire();
    if (!token.valid()) return false;
  }
  experiment_slot = std::move(next_experiment_slot_);
  return true;
}

bool Scheduler::HasExperimentSlot() const {
  return options_.experiment_slots == nullptr || next_experiment_slot_.valid();
}

int Scheduler::TendExperimentSlots(bool want_slot) {
  ExperimentSlots* slots = options_.experiment_slots;
  if (slots == nullptr) return -1;
  if (!want_slot)
    next_experiment_slot_.Return();  // Held for no agent, it would keep others waiting.
  if (!want_slot || next_experiment_slot_.valid()) {
    slots->StopWaiting();
    return -1;
  }
  jobserver::Result<int> fd = slots->StartWaiting();
  if (!fd) {
    progress_.Warn("tierun: " + fd.error().message + "; stopping");
    Stop(kStopForFailure);
    return -1;
  }
  return *fd;
}

void Scheduler::ReleaseSharedSlot(bool on_shared_slot) {
  if (!on_shared_slot) return;
  shared_slot_busy_ = false;
  options_.shared_slot->Release();
}

int Scheduler::TendSharedSlot(bool want_slot) {
  ImplicitSlotClaim* shared = options_.shared_slot;
  if (shared == nullptr || shared_slot_busy_) return -1;
  if (!want_slot) {
    // Held (or awaited) for no agent, it would keep a sibling waiting.
    if (shared->held() || shared->waiting()) shared->Release();
    return -1;
  }
  if (shared->held()) return -1;
  if (!shared->waiting() && !shared->StartWaiting()) return -1;  // Tokens only, then.
  return shared->ready_fd();
}

void Scheduler::LaunchWhatFits() {
  while (true) {
    const Clock::time_point now = Clock::now();
    if (!CanLaunch(now) || !HasStartableWork(now)) return;
    jobserver::Token token;
    bool on_shared_slot = false;
    ExperimentSlot experiment_slot;
    // poll() tells us when a slot comes.
    if (!AcquireSlot(token, on_shared_slot, experiment_slot)) return;
    if (!judges_waiting_.empty()) {
      RunKey key = judges_waiting_.front().first;
      RunRecord record = std::move(judges_waiting_.front().second);
      judges_waiting_.erase(judges_waiting_.begin());
      Launch(key, std::move(token), on_shared_slot, std::move(record), std::move(experiment_slot));
      continue;
    }
    if (std::optional<RunKey> key = queue_.Next(now)) {
      Launch(*key, std::move(token), on_shared_slot, std::nullopt, std::move(experiment_slot));
    }
  }
}

void Scheduler::Launch(RunKey key, jobserver::Token token, bool on_shared_slot,
                       std::optional<RunRecord> judged, ExperimentSlot experiment_slot) {
  const Tier& tier = plan_.tiers[key.tier];
  const bool judge = judged.has_value();
  AttemptSpec spec{&plan_,
                   &tier,
                   key.subtest,
                   key.run,
                   key.attempt,
                   RunDir(key),
                   judge,
                   options_.pool_environment,
                   options_.inherit_fds};
  const int box = options_.containment ? options_.containment->AcquireBox() : -1;
  spec.cgroup_fd = options_.containment ? options_.containment->BoxFd(box) : -1;
  const uint64_t ticket = launcher_->Submit(std::move(spec));
  launching_.emplace(ticket, Launching{std::move(key), std::move(token), on_shared_slot,
                                       std::move(judged), box, std::move(experiment_slot)});
}

void Scheduler::CollectStarted() {
  for (AttemptLauncher::Started& started : launcher_->TakeStarted()) {
    auto found = launching_.find(started.ticket);
    Launching launching = std::move(found->second);
    launching_.erase(found);
    if (!started.process) {
      // Not the run's fault (a missing program, no fds left): recording it
      // would make it permanent. Stop; the run stays to be run next time.
      launching.token.Return();
      ReleaseSharedSlot(launching.on_shared_slot);
      ReleaseBox(launching.box);
      progress_.Warn("tierun: " + started.process.error().message + "; stopping");
      Stop(kStopForFailure);
      continue;
    }
    AddChild(std::move(launching), std::move(*started.process), started);
  }
}

void Scheduler::WithdrawLaunches(Clock::time_point not_before) {
  for (const uint64_t ticket : launcher_->Withdraw()) {
    auto found = launching_.find(ticket);
    Launching launching = std::move(found->second);
    launching_.erase(found);
    launching.token.Return();
    ReleaseSharedSlot(launching.on_shared_slot);
    ReleaseBox(launching.box);
    if (launching.judged) {
      judges_waiting_.emplace(judges_waiting_.begin(), launching.key, std::move(*launching.judged));
    } else {
      queue_.PutBack(launching.key, not_before);
    }
  }
}

void Scheduler::AddChild(Launching launching, Subprocess process,
                         const AttemptLauncher::Started& started) {
  const RunKey& key = launching.key;
  const Tier& tier = plan_.tiers[key.tier];
  const bool judge = launching.judged.has_value();
  auto child =
      std::make_unique<Child>(Child{key, judge, std::move(process), std::move(launching.token),
                                    started.started, started.started_at});
  child->on_shared_slot = launching.on_shared_slot;
  child->box = launching.box;
  child->experiment_slot = std::move(launching.experiment_slot);
  if (judge) child->record = std::move(*launching.judged);
  if (tier.timeout.count() > 0) child->deadline = child->started + tier.timeout;
  if (stop_signal_ != 0) {
    // Started while a stop was under way: it ends as the others do.
    child->process.Signal(killing_ ? SIGKILL : SIGTERM);
    child->kill_at = Clock::now() + options_.grace;
  }
  JsonLine fields = Describe(key);
  fields.AddInteger("pid", child->process.pid())
      .AddBool("implicit_slot", child->token.implicit() || child->on_shared_slot)
      .AddInteger("running", static_cast<int64_t>(children_.size() + 1));
  events_.Record(judge ? "judge_start" : "start", std::move(fields), child->started_at);
  if (!judge) progress_.Started(key.tier);
  children_.push_back(std::move(child));
}

void Scheduler::Reap(Child& child, const ExitStatus& status) {
  // Nothing the attempt started may outlive its slot; then the slot goes
  // back, however the attempt ended.
  child.process.KillRemainingGroup();
  child.token.Return();  // The slot goes back first, however the attempt ended.
  ReleaseSharedSlot(child.on_shared_slot);
  if (stop_signal_ != 0) {
    JsonLine fields = Describe(child.key);
    fields.AddString("status", status.Describe());
    events_.Record("interrupted", std::move(fields));
    return;  // Left incomplete: the next session runs it again.
  }
  if (child.judge) {
    FinishJudge(child, status);
  } else {
    FinishAgent(child, status);
  }
}

void Scheduler::FinishAgent(Child& child, const ExitStatus& status) {
  const RunKey& key = child.key;
  const std::string run_dir = RunDir(key);
  RunRecord record;
  record.attempts = key.attempt;
  record.started_at = child.started_at;
  record.finished_at = UtcNow();
  record.duration_s = Seconds(Clock::now() - child.started);
  if (status.exited()) record.exit_code = status.code();
  if (status.signaled()) record.signal = status.signal_number();
  jobserver::Result<AgentReport> report = ReadAgentReport(run_dir + "/result.json");
  if (child.timed_out || status.signaled() || !report) {
    record.status = child.timed_out ? "timeout" : status.signaled() ? "crashed" : "error";
    if (!report) progress_.Warn("tierun: " + report.error().message);
    Complete(key, std::move(record));
    return;
  }
  if (report->retry_after_s) PauseLaunches(*report->retry_after_s, key);
  record.passed = report->passed.value_or(status.code() == 0);
  const bool may_retry = !record.passed && key.attempt < plan_.retry.attempts;
  // The stderr tail is read only when a pattern could match it: most runs
  // pass, and reading it would cost an open per run.
  const std::string stderr_tail = may_retry && !plan_.retry.transient_stderr.empty()
                                      ? ReadTail(run_dir + "/stderr.log", kStderrTailBytes)
                                      : std::string();
  const bool transient = may_retry && (report->retry_after_s.has_value() ||
                                       IsTransientFailure(plan_.retry, status, stderr_tail));
  if (transient) {
    ScheduleRetry(key, status.Describe());
    return;
  }
  record.score = report->score.value_or(record.passed ? 1.0 : 0.0);
  AddEarlierAttempts(run_dir, key.attempt, *report);
  record.cost_usd = report->cost_usd;
  record.tokens = report->tokens;
  record.status = record.passed ? "passed" : "failed";
  if (plan_.tiers[key.tier].judge) {
    judges_waiting_.emplace_back(key, std::move(record));
    return;
  }
  Complete(key, std::move(record));
}

void Scheduler::FinishJudge(Child& child, const ExitStatus& status) {
  RunRecord record = std::move(child.record);
  record.duration_s += Seconds(Clock::now() - child.started);
  record.finished_at = UtcNow();
  jobserver::Result<AgentReport> judgment = ReadAgentReport(RunDir(child.key) + "/judgment.json");
  if (child.timed_out || status.signaled() || !judgment) {
    record.status = "error";  // The agent ran, but nobody could judge it.
    record.passed = false;
    record.score = 0;
    if (!judgment) progress_.Warn("tierun: " + judgment.error().message);
  } else {
    record.passed = judgment->passed.value_or(status.code() == 0);
    record.score = judgment->score.value_or(record.passed ? 1.0 : 0.0);
    record.status = record.passed ? "passed" : "failed";
  }
  Complete(child.key, std::move(record));
}

void Scheduler::Complete(const RunKey& key, RunRecord record) {
  record.tier = plan_.tiers[key.tier].id;
  record.subtest = key.subtest;
  record.run = key.run;
  const std::string run_dir = RunDir(key);
  jobserver::Status written =
      WriteFileAtomically(run_dir + "/report.json", RunRecordText(record) + "\n");
  // The rename to run_NN is the commit (results_dir.h): a process the agent
  // left behind, writing by the old path, finds nothing there from now on.
  std::vector<std::string> moved_aside;
  if (written) written = CommitRunDirectory(run_dir, key.run, &moved_aside);
  for (const std::string& moved : moved_aside) {
    progress_.Warn("tierun: " + moved + ": moved aside, it was not made by this runner");
  }
  if (!written) {
    // Without its report a run is not done; stop rather than lose results.
    progress_.Warn("tierun: " + written.error().message + "; stopping");
    Stop(kStopForFailure);
    return;
  }
  run_dirs_.erase({key.tier, key.subtest, key.run});
  queue_.Finish(key);
  JsonLine fields = Describe(key);
  fields.AddString("status", record.status).AddBool("passed", record.passed);
  events_.Record("finish", std::move(fields));
  progress_.Finished(key.tier, record);
  results_.Add(record);
}

void Scheduler::PauseLaunches(double seconds, const RunKey& key) {
  // Clamped: a negative value means nothing, a huge one a day at most.
  const double clamped = std::clamp(seconds, 0.0, kMaxPauseSeconds);
  const auto pause = std::chrono::milliseconds(static_cast<int64_t>(clamped * 1000));
  paused_until_ = std::max(paused_until_, Clock::now() + pause);
  WithdrawLaunches(paused_until_);
  events_.Record(
      "pause",
      std::move(
          JsonLine().AddNumber("seconds", clamped).AddString("tier", plan_.tiers[key.tier].id)));
  progress_.Note("tierun: rate limited: pausing every launch, in every tier, for " +
                 std::to_string(clamped) + " s");
}

void Scheduler::ScheduleRetry(const RunKey& key, const std::string& why) {
  const Clock::time_point now = Clock::now();
  const Clock::time_point not_before =
      std::max(now + Backoff(plan_.retry, key.attempt + 1), paused_until_);
  JsonLine fields = Describe(key);
  fields.AddString("why", why);
  events_.Record("retry", std::move(fields));
  progress_.Retrying(key.tier, plan_.tiers[key.tier].id + "/" + key.subtest + " run " +
                                   std::to_string(key.run) + ": transient failure (" + why +
                                   "), retrying");
  queue_.Retry(key, not_before);
}

void Scheduler::Stop(int signal_number) {
  if (stop_signal_ != 0) return;
  stop_signal_ = signal_number;
  WithdrawLaunches(Clock::now());  // Left for the next session.
  events_.Record("stop",
                 std::move(JsonLine()
                               .AddInteger("signal", signal_number)
                               .AddInteger("running", static_cast<int64_t>(children_.size()))));
  judges_waiting_.clear();
  const Clock::time_point kill_at = Clock::now() + options_.grace;
  for (auto& child : children_) {
    child->process.Signal(SIGTERM);
    if (!child->kill_at || kill_at < *child->kill_at) child->kill_at = kill_at;
  }
}

void Scheduler::HandleDeadlines(Clock::time_point now) {
  for (auto& child : children_) {
    if (child->deadline && now >= *child->deadline && !child->timed_out) {
      child->timed_out = true;
      child->process.Signal(SIGTERM);
      child->kill_at = now + options_.grace;
    }
    if (child->kill_at && now >= *child->kill_at) {
      child->process.Signal(SIGKILL);
      child->kill_at.reset();
    }
  }
}

int Scheduler::PollTimeoutMs(Clock::time_point now) const {
  std::optional<Clock::time_point> next;
  auto consider = [&next](std::optional<Clock::time_point> when) {
    if (when && (!next || *when < *next)) next = when;
  };
  for (const auto& child : children_) {
    if (!child->timed_out) consider(child->deadline);
    consider(child->kill_at);
  }
  if (stop_signal_ == 0) {
    // A retry already due waits for a slot (the pool fd), not for a timer.
    if (auto retry = queue_.NextRetryTime(); retry && *retry > now) consider(retry);
    if (paused_until_ > now) consider(paused_until_);
  }
  if (!next) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*next - now);
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
}

void Scheduler::HandleSignals(ScopedSignalFd& signals) {
  while (const int signal_number = signals.Read()) {
    if (stop_signal_ == 0) {
      Stop(signal_number);
    } else {
      killing_ = true;  // A second signal.
      for (auto& child : children_) child->process.Signal(SIGKILL);
    }
  }
}

void Scheduler::ReapExited() {
  for (size_t i = 0; i < children_.size();) {
    Child& running = *children_[i];
    if (!running.draining) running.draining = running.process.TryWait();
    if (!running.draining || !Contained(running)) {
      ++i;
      continue;
    }
    std::unique_ptr<Child> child = std::move(children_[i]);
    children_.erase(children_.begin() + static_cast<ptrdiff_t>(i));
    Reap(*child, *child->draining);
  }
}

bool Scheduler::Contained(Child& child) {
  Containment* containment = options_.containment;
  if (containment == nullptr) return true;
  if (!containment->DrainBox(child.box)) return false;  // poll() says when it is empty.
  if (containment->kind() == ContainmentKind::kSubreaper) {
    // The group first: its members end now rather than as orphans.
    child.process.KillRemainingGroup();
    // An orphan whose environment names a run still running stays with that
    // run; every other one ends now, before this slot goes back.
    containment->EndOrphans([this](pid_t pid) {
      const std::string run_dir = RunDirOfProcess(pid);
      return !run_dir.empty() &&
             std::any_of(children_.begin(), children_.end(), [&](const auto& other) {
               return !other->draining && RunDir(other->key) == run_dir;
             });
    });
  }
  containment->ReleaseBox(child.box);
  child.box = -1;
  return true;
}

void Scheduler::ReleaseBox(int box) {
  if (options_.containment) options_.containment->ReleaseBox(box);
}

int Scheduler::Run(ScopedSignalFd& signals) {
  jobserver::Result<std::unique_ptr<AttemptLauncher>> launcher =
      AttemptLauncher::Create(options_.start_attempt);
  if (!launcher) {
    progress_.Warn("tierun: " + launcher.error().message);
    return kStopForFailure;
  }
  launcher_ = std::move(*launcher);
  while (true) {
    // Agents that ended on their own count as finished before a signal that
    // arrived in the same wake-up; a signal stops launches before they start.
    CollectStarted();
    ReapExited();
    HandleSignals(signals);
    const Clock::time_point now = Clock::now();
    HandleDeadlines(now);
    LaunchWhatFits();
    if (children_.empty() && launching_.empty() &&
        (stop_signal_ != 0 || (queue_.AllDone() && judges_waiting_.empty()))) {
      TendExperimentSlots(false);  // Other runners may use them while we write reports.
      return stop_signal_;
    }
    std::vector<struct pollfd> fds = {{signals.fd(), POLLIN, 0}};
    // A gone pool's fd stays readable (EOF): polling it would spin.
    const bool want_slot = CanLaunch(now) && HasStartableWork(now);
    // The experiment slot first: until we hold one, a free token would wake
    // us for nothing, and holding a jobserver slot would keep it from others.
    const bool have_experiment_slot = HasExperimentSlot();
    const bool want_token = want_slot && have_experiment_slot && !client_.pool_gone();
    fds.push_back({want_token ? client_.readiness_fd() : -1, POLLIN, 0});
    const int shared_slot_fd = TendSharedSlot(want_slot && have_experiment_slot);
    fds.push_back({shared_slot_fd, POLLIN, 0});
    fds.push_back({launcher_->ready_fd(), POLLIN, 0});
    const int experiment_slot_fd = TendExperimentSlots(want_slot);
    fds.push_back({experiment_slot_fd, POLLIN, 0});
    for (const auto& child : children_) {
      // A box being emptied reports it on cgroup.events.
      fds.push_back(child->draining
                        ? pollfd{options_.containment->BoxEventsFd(child->box), POLLPRI, 0}
                        : pollfd{child->process.pidfd(), POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), PollTimeoutMs(Clock::now())) == -1 && errno != EINTR) {
      perror("tierun run: poll");
      Stop(kStopForFailure);
    }
    // The helper holds the shared slot for us now (or died: tokens only).
    if (shared_slot_fd >= 0 && (fds[2].revents & (POLLIN | POLLHUP))) {
      options_.shared_slot->CollectWaiter();
    }
    // A helper took an experiment slot for us (or failed: stop).
    if (experiment_slot_fd >= 0 && (fds[4].revents & POLLIN)) {
      if (jobserver::Status collected = options_.experiment_slots->CollectWaiters(); !collected) {
        progress_.Warn("tierun: " + collected.error().message + "; stopping");
        Stop(kStopForFailure);
      }
    }
  }
}

}  // namespace tierun
