// `tierun run [PLAN]`: an experiment's tiers under one global limit.

#include <fcntl.h>
#include <stdio.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <variant>

#include "src/agent_pool.h"
#include "src/atomic_file.h"
#include "src/commands.h"
#include "src/containment_posix.h"
#include "src/ctest_resources.h"
#include "src/event_log.h"
#include "src/experiment_slots_posix.h"
#include "src/progress.h"
#include "src/reports.h"
#include "src/results_dir.h"
#include "src/run_child.h"
#include "src/run_selection.h"
#include "src/scheduler.h"
#include "src/signals_posix.h"
#include "src/work_queue.h"

namespace tierun {
namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;
using jobserver::UniqueFd;

constexpr const char* kWho = "tierun run";

/// Lists the runs that would start. A plan may hold a million runs, so a
/// termination signal is looked for every kSignalCheckRuns runs: the dry run
/// then stops, and the exit code is 128+N (0 when it went through).
int PrintDryRun(const Plan& plan, const std::string& dir, const RunSelection& selection,
                ScopedSignalFd& signals) {
  constexpr int kSignalCheckRuns = 1024;
  int pending = 0;
  int complete = 0;
  int until_check = kSignalCheckRuns;
  for (const Tier& tier : plan.tiers) {
    for (int run = 1; run <= tier.runs; ++run) {
      for (const std::string& subtest : tier.subtests) {
        if (--until_check == 0) {
          until_check = kSignalCheckRuns;
          if (const int signal = signals.Read(); signal != 0) {
            fflush(stdout);
            fprintf(stderr, "%s: dry run interrupted by signal %d after %d runs\n", kWho, signal,
                    pending + complete);
            return 128 + signal;
          }
        }
        if (!selection.Has(tier.id, subtest, run)) continue;
        if (RunIsComplete(dir, tier.id, subtest, run)) {
          ++complete;
          continue;
        }
        ++pending;
        // The in-progress name's random part is chosen when the run starts.
        const std::string run_dir =
            dir + "/" + tier.id + "/" + subtest + "/." + RunDirectoryName(run) + ".<random>";
        std::string command;
        for (const std::string& word : tier.agent.argv) {
          command += " " + ExpandPlaceholders(word, {plan.name, tier.id, subtest,
                                                     std::to_string(run), "1", run_dir});
        }
        printf("would run %s/%s run %d:%s\n", tier.id.c_str(), subtest.c_str(), run,
               command.c_str());
      }
    }
  }
  printf("%s: dry run: %d runs would start, %d already complete; nothing was started\n", kWho,
         pending, complete);
  return kExitOk;
}

/// How `tierun run` waits for the setup lock: it says so, and a termination
/// signal ends the wait at once (`*signal`).
LockWait SetupLockWait(ScopedSignalFd& signals, int* signal) {
  return LockWait{&signals, signal, [](const std::string& lock_path) {
                    fprintf(stderr,
                            "%s: waiting for %s: another tierun run is setting up this "
                            "experiment or rebuilding its reports\n",
                            kWho, lock_path.c_str());
                  }};
}

ProgressMode ParseProgressMode(const std::string& text) {
  if (text == "bar") return ProgressMode::kBar;
  if (text == "plain") return ProgressMode::kPlain;
  if (text == "none") return ProgressMode::kNone;
  return ProgressMode::kAuto;
}

/// Totals of the selected runs; a tier none of whose runs are selected has
/// none (and is not shown).
void SetProgressTotals(Progress& progress, const Plan& plan, const RunSelection& selection,
                       const PlanResults& results) {
  for (size_t index = 0; index < plan.tiers.size(); ++index) {
    const Tier& tier = plan.tiers[index];
    int total = 0;
    int done = 0;
    int passed = 0;
    for (size_t subtest = 0; subtest < tier.subtests.size(); ++subtest) {
      for (int run = 1; run <= tier.runs; ++run) {
        if (!selection.Has(tier.id, tier.subtests[subtest], run)) continue;
        ++total;
        const RunOutcome* outcome = results.Find(index, subtest, run);
        done += outcome != nullptr ? 1 : 0;
        passed += outcome != nullptr && outcome->passed ? 1 : 0;
      }
    }
    progress.SetTotals(index, total, done, passed);
  }
}

/// Whether a run of `selection` has an outcome that did not pass.
bool AnyFailed(const Plan& plan, const RunSelection& selection, const PlanResults& results) {
  for (size_t tier = 0; tier < plan.tiers.size(); ++tier) {
    const Tier& planned = plan.tiers[tier];
    for (size_t subtest = 0; subtest < planned.subtests.size(); ++subtest) {
      for (int run = 1; run <= planned.runs; ++run) {
        const RunOutcome* outcome = results.Find(tier, subtest, run);
        if (outcome != nullptr && !outcome->passed &&
            selection.Has(planned.id, planned.subtests[subtest], run)) {
          return true;
        }
      }
    }
  }
  return false;
}

/// Rebuilds every report from the outcomes in `results` (those of `known`,
/// a runner's own selection, are there already; the others are read) and
/// prints report.md; the caller holds the setup lock, so runners sharing
/// `dir` take turns and the last one counts every run. `junit`: the
/// directory of --junit FILE, opened before any agent ran. `any_failed`:
/// whether a run of `selection` did not pass. Every write goes through
/// descriptors opened at the start: when an agent (or anyone) has replaced
/// `dir` meanwhile, that is said, with where the reports went, and the exit
/// code is 3.
int WriteAndPrintReports(const char* who, const Plan& plan, const std::string& dir,
                         const HeldPath* junit, const RunSelection& selection,
                         const RunSelection* known, PlanResults& results, bool* any_failed) {
  if (jobserver::Status read = ReadPlanResults(dir, plan, results, known); !read) {
    fprintf(stderr, "%s: %s\n", who, read.error().message.c_str());
    return kExitInfrastructure;
  }
  jobserver::Status written = WriteReports(dir, plan, results);
  if (written && junit != nullptr) written = WriteJunitXml(*junit, plan, results);
  if (!written) {
    fprintf(stderr, "%s: %s\n", who, written.error().message.c_str());
    return kExitInfrastructure;
  }
  *any_failed = AnyFailed(plan, selection, results);
  printf("%s", RenderReportMarkdown(ComputeMetrics(plan, results)).c_str());
  const std::optional<std::string> moved = ConfinementMoved();
  printf("\n(%s/report.md, report.json, junit.xml)\n", moved ? moved->c_str() : dir.c_str());
  if (moved) {
    fprintf(stderr,
            "%s: %s was replaced while tierun ran (the directory tierun opened is now %s); "
            "the results and reports were written there, through the directory tierun opened, "
            "never through %s\n",
            who, dir.c_str(), moved->c_str(), dir.c_str());
    return kExitInfrastructure;
  }
  return kExitOk;
}

int RunExitCode(int stop, int report_code, bool any_failed, const RunOptions& options) {
  if (stop == Scheduler::kStopForFailure) return kExitInfrastructure;
  if (stop != 0) return 128 + stop;
  if (report_code != kExitOk) return report_code;
  return options.fail_on_failure && any_failed ? kExitRunsFailed : kExitOk;
}

}  // namespace

namespace {

/// What a session runs on: the plan, its part, the results directory and
/// the pool -- everything checked before the first agent starts.
struct Session {
  Plan plan;
  RunSelection selection;
  ResultsDirectory results;
  AgentPool pool;
  std::optional<HeldPath> junit;                      ///< --junit FILE's directory, opened now.
  std::unique_ptr<ExperimentSlots> experiment_slots;  ///< With --experiment-slots.
};

/// The slot files that cap the experiment's agents across runners
/// (--experiment-slots), beside `experiment_dir`; null without the option.
Result<std::unique_ptr<ExperimentSlots>> OpenExperimentSlots(int slots,
                                                             const std::string& experiment_dir,
                                                             AgentPool& pool) {
  if (slots <= 0) return std::unique_ptr<ExperimentSlots>();
  Result<std::unique_ptr<ExperimentSlots>> opened =
      ExperimentSlots::Open(ExperimentSlots::DirectoryFor(experiment_dir), slots);
  if (opened) {
    pool.description +=
        "; at most " + std::to_string(slots) + " across runners (" + (*opened)->directory() + ")";
  }
  return opened;
}

/// Loads and checks everything; on failure returns the exit code.
std::variant<Session, int> OpenSession(const RunOptions& options,
                                       const jobserver::MakeflagsEnvironment& env,
                                       ScopedSignalFd& signals) {
  Result<Plan> plan = LoadPlan(options.plan_path);
  if (!plan) {
    fprintf(stderr, "%s\n", plan.error().message.c_str());
    return kExitUsage;
  }
  if (!options.results_dir.empty()) plan->results_dir = options.results_dir;
  Result<RunSelection> selection = SelectRuns(*plan, options.tiers, options.runs);
  if (!selection) {
    fprintf(stderr, "%s: %s\n", kWho, selection.error().message.c_str());
    return kExitUsage;
  }
  // Before anything is written: a path past PATH_MAX would fail halfway.
  if (jobserver::Status fits = CheckResultPaths(*plan, ExperimentDirectory(*plan)); !fits) {
    fprintf(stderr, "%s: %s\n", kWho, fits.error().message.c_str());
    return kExitUsage;
  }
  if (options.dry_run || jobserver::DryRunRequested(env)) {
    return PrintDryRun(*plan, ExperimentDirectory(*plan), *selection, signals);
  }
  int setup_signal = 0;
  Result<ResultsDirectory> results = PrepareResultsDirectory(*plan, options.fresh, *selection,
                                                             SetupLockWait(signals, &setup_signal));
  if (!results && setup_signal != 0) {
    fprintf(stderr, "%s: %s; nothing was set up\n", kWho, results.error().message.c_str());
    return 128 + setup_signal;
  }
  if (!results) {
    fprintf(stderr, "%s: %s\n", kWho, results.error().message.c_str());
    return results.error().kind == ErrorKind::kSystem ? kExitInfrastructure : kExitUsage;
  }
  for (const std::string& moved : results->moved_aside) {
    fprintf(stderr, "%s: moved aside: %s\n", kWho, moved.c_str());
  }
  std::optional<HeldPath> junit;
  if (!options.junit_path.empty()) {
    Result<HeldPath> held = HoldParentDirectory(options.junit_path);
    if (!held) {
      fprintf(stderr, "%s: --junit: %s\n", kWho, held.error().message.c_str());
      return kExitInfrastructure;
    }
    junit.emplace(std::move(*held));
  }
  Result<std::optional<int>> ctest_slots =
      CTestResourceSlots(options.resource_type, ProcessEnvironment());
  if (!ctest_slots) {
    fprintf(stderr, "%s: %s\n", kWho, ctest_slots.error().message.c_str());
    return kExitUsage;
  }
  int signal = 0;
  Result<AgentPool> pool = OpenAgentPool({options.jobs, *ctest_slots}, env, signals, &signal);
  if (!pool && signal != 0) return 128 + signal;
  if (!pool) {
    fprintf(stderr, "%s: cannot set up the jobserver: %s\n", kWho, pool.error().message.c_str());
    return kExitInfrastructure;
  }
  Result<std::unique_ptr<ExperimentSlots>> experiment_slots =
      OpenExperimentSlots(options.experiment_slots, results->path, *pool);
  if (!experiment_slots) {
    fprintf(stderr, "%s: %s\n", kWho, experiment_slots.error().message.c_str());
    return kExitInfrastructure;
  }
  return Session{std::move(*plan), std::move(*selection), std::move(*results),
                 std::move(*pool), std::move(junit),      std::move(*experiment_slots)};
}

SchedulerOptions MakeSchedulerOptions(const RunOptions& options, Session& session) {
  AgentPool& pool = session.pool;
  SchedulerOptions scheduler_options;
  scheduler_options.cap = pool.cap;
  if (pool.shared_slot) scheduler_options.shared_slot = &*pool.shared_slot;
  scheduler_options.experiment_slots = session.experiment_slots.get();
  scheduler_options.grace = options.grace;
  if (pool.server) {
    scheduler_options.pool_environment = pool.server->ChildEnvironment();
    scheduler_options.inherit_fds = pool.server->InheritableFds();
  } else if (pool.client && pool.client->auth().style == jobserver::AuthStyle::kPipe) {
    // Agents reach a joined pipe pool through the fds its MAKEFLAGS names,
    // which we inherited: they are the only inherited fds agents keep.
    scheduler_options.inherit_fds = {pool.client->auth().read_fd, pool.client->auth().write_fd};
  }
  return scheduler_options;
}

/// Takes the setup lock again and rebuilds the reports (WriteAndPrintReports).
/// A signal while it waits for the lock ends the wait: every run report is
/// written already, so the reports are left to the next runner or to
/// `tierun report`, and `*signal` is set.
int RebuildReports(const Session& session, ScopedSignalFd& signals, const RunSelection* known,
                   PlanResults& results, bool* any_failed, int* signal) {
  const std::string& dir = session.results.path;
  jobserver::Status locked = RelockForUpdate(session.results, SetupLockWait(signals, signal));
  if (!locked && *signal != 0) {
    fprintf(stderr, "%s: %s; the reports were not rebuilt (tierun report %s rebuilds them)\n", kWho,
            locked.error().message.c_str(), dir.c_str());
    return kExitInfrastructure;
  }
  if (!locked) Warn(locked.error().message + "; rebuilding the reports without it");
  return WriteAndPrintReports(kWho, session.plan, dir, session.junit ? &*session.junit : nullptr,
                              session.selection, known, results, any_failed);
}

/// Runs the session's pending runs, writes the reports, audits our pool.
int RunSession(const RunOptions& options, Session& session, ScopedSignalFd& signals) {
  const Plan& plan = session.plan;
  const std::string& dir = session.results.path;
  AgentPool& pool = session.pool;
  // A directory this runner has just created holds no finished run: no
  // file is looked at for each run of a new experiment. A resumed one is
  // read once, here; what this session finishes is added as it finishes.
  PlanResults results(plan);
  const bool read = !session.results.resumed || ReadPlanResults(dir, plan, results).ok();
  WorkQueue queue(plan, session.selection,
                  [&](const std::string& tier, const std::string& subtest, int run) {
                    // An unreadable report is still a finished run; the
                    // reports at the end say what is wrong with it.
                    return read ? results.Find(tier, subtest, run) != nullptr
                                : RunIsComplete(dir, tier, subtest, run);
                  });
  Progress progress(ParseProgressMode(options.progress), plan, stderr);
  SetProgressTotals(progress, plan, session.selection, results);
  // What a killed session left ends before anything of ours starts.
  const UniqueFd experiment(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (const std::string& line : EndLeftovers(experiment.get())) {
    progress.Warn(std::string(kWho) + ": " + line);
  }
  std::unique_ptr<Containment> containment = Containment::Create("run");
  RecordSession(experiment.get(), *containment);
  EventLog events(dir + "/events.jsonl");
  events.Record("session", std::move(JsonLine()
                                         .AddBool("resumed", session.results.resumed)
                                         .AddString("pool", pool.description)
                                         .AddString("containment", containment->description())
                                         .AddInteger("pending_runs",
                                                     static_cast<int64_t>(queue.Unfinished()))));
  progress.Note(std::string(kWho) + ": " + plan.name + ": " + std::to_string(queue.Unfinished()) +
                " of " + std::to_string(queue.Total()) + " runs to go; " + pool.description +
                "; agents held by " + containment->description());
  SchedulerOptions scheduler_options = MakeSchedulerOptions(options, session);
  scheduler_options.containment = containment.get();
  int stop = 0;
  {
    Scheduler scheduler(plan, dir, queue, *pool.client, events, progress, results,
                        std::move(scheduler_options));
    stop = scheduler.Run(signals);
  }
  containment.reset();  // Its cgroup is gone: so goes the record of it.
  ForgetSession(experiment.get());
  progress.Close();
  bool any_failed = false;
  int relock_signal = 0;
  // The selection's outcomes are all in `results` unless a report could not
  // be read at the start: then every report is read again, and the reports
  // say which one is wrong.
  const int report_code = RebuildReports(session, signals, read ? &session.selection : nullptr,
                                         results, &any_failed, &relock_signal);
  if (pool.server) {
    pool.client.reset();
    if (jobserver::Audit audit = pool.server->Shutdown(); !audit.clean()) {
      // Forged tokens never raised the limit (pool.cap); say both.
      const std::string capped = audit.extra > 0 ? "; no more than " + std::to_string(pool.cap) +
                                                       " agents ran at once all the same"
                                                 : "";
      Warn("jobserver audit: " + audit.Describe() + capped);
    }
  }
  if (relock_signal != 0) return 128 + relock_signal;
  return RunExitCode(stop, report_code, any_failed, options);
}

}  // namespace

int RunExperiment(const RunOptions& options) {
  auto signals = ScopedSignalFd::BlockTerminationSignals();
  if (!signals) {
    fprintf(stderr, "%s: %s\n", kWho, signals.error().message.c_str());
    return kExitInfrastructure;
  }
  SetSyncWrites(options.fsync);
  const auto env = jobserver::MakeflagsEnvironment::FromProcess();
  std::variant<Session, int> session = OpenSession(options, env, *signals);
  if (const int* code = std::get_if<int>(&session)) return *code;
  return RunSession(options, std::get<Session>(session), *signals);
}

int RunPoolSlots(int jobs, const jobserver::MakeflagsEnvironment& env,
                 std::optional<int> ctest_slots) {
  if (!ctest_slots) return OwnPoolSlots(jobs, env);
  return jobs > 0 ? std::min(jobs, *ctest_slots) : *ctest_slots;
}

int PrintResourceSpec(int slots, const std::string& type, const std::string& id) {
  Result<std::string> spec = ResourceSpecJson(slots, type, id);
  if (!spec) {
    fprintf(stderr, "tierun resource-spec: %s\n", spec.error().message.c_str());
    return kExitUsage;
  }
  printf("%s", spec->c_str());
  return kExitOk;
}

int RebuildReport(const std::string& directory) {
  constexpr const char* kReport = "tierun report";
  // Opened once, first: the plan and the run reports are read, and the
  // reports written, through this descriptor.
  if (jobserver::Status confined = ConfineWritesBelow(directory); !confined) {
    fprintf(stderr, "%s: %s (is it a results directory of tierun run?)\n", kReport,
            confined.error().message.c_str());
    return kExitUsage;
  }
  Result<std::string> text = ReadWholeFile(directory + "/plan.json");
  if (!text) {
    fprintf(stderr, "%s: %s (is it a results directory of tierun run?)\n", kReport,
            text.error().message.c_str());
    return kExitUsage;
  }
  const nlohmann::json stored = nlohmann::json::parse(*text, nullptr, false);
  Result<Plan> plan =
      stored.is_object() && stored.contains("plan")
          ? PlanFromJson(stored["plan"], directory + "/plan.json")
          : Result<Plan>(Error{ErrorKind::kInvalid, directory + "/plan.json: not a plan record"});
  if (!plan) {
    fprintf(stderr, "%s: %s\n", kReport, plan.error().message.c_str());
    return kExitUsage;
  }
  const LockWait wait{nullptr, nullptr, [&](const std::string& lock_path) {
                        fprintf(stderr,
                                "%s: waiting for %s: a tierun run is setting up this experiment "
                                "or rebuilding its reports\n",
                                kReport, lock_path.c_str());
                      }};
  Result<jobserver::UniqueFd> update = LockForUpdate(directory, wait);
  if (!update) Warn(update.error().message + "; rebuilding the reports without it");
  PlanResults results(*plan);
  bool any_failed = false;
  return WriteAndPrintReports(kReport, *plan, directory, nullptr, RunSelection{}, nullptr, results,
                              &any_failed);
}

}  // namespace tierun
