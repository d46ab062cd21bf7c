// `tierun run [PLAN]`: an experiment's tiers under one global limit.

#include <stdio.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <set>
#include <variant>

#include "src/agent_pool.h"
#include "src/atomic_file.h"
#include "src/commands.h"
#include "src/ctest_resources.h"
#include "src/event_log.h"
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

constexpr const char* kWho = "tierun run";

void PrintDryRun(const Plan& plan, const std::string& dir, const RunSelection& selection) {
  int pending = 0;
  int complete = 0;
  for (const Tier& tier : plan.tiers) {
    for (int run = 1; run <= tier.runs; ++run) {
      for (const std::string& subtest : tier.subtests) {
        if (!selection.Has(tier.id, subtest, run)) continue;
        if (RunIsComplete(dir, tier.id, subtest, run)) {
          ++complete;
          continue;
        }
        ++pending;
        const std::string run_dir = RunDirectory(dir, tier.id, subtest, run);
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
/// prints report.md. Runners sharing `dir` take turns, so the last one
/// counts every run. `any_failed`: whether a run of `selection` did not pass.
int WriteAndPrintReports(const Plan& plan, const std::string& dir, const RunOptions& options,
                         const RunSelection& selection, const RunSelection* known,
                         PlanResults& results, bool* any_failed) {
  Result<jobserver::UniqueFd> update = LockForUpdate(dir);
  if (!update) Warn(update.error().message + "; rebuilding the reports without it");
  if (jobserver::Status read = ReadPlanResults(dir, plan, results, known); !read) {
    fprintf(stderr, "%s: %s\n", kWho, read.error().message.c_str());
    return kExitInfrastructure;
  }
  jobserver::Status written = WriteReports(dir, plan, results);
  if (written && !options.junit_path.empty()) {
    written = WriteJunitXml(options.junit_path, plan, results);
  }
  if (!written) {
    fprintf(stderr, "%s: %s\n", kWho, written.error().message.c_str());
    return kExitInfrastructure;
  }
  *any_failed = AnyFailed(plan, selection, results);
  printf("%s", RenderReportMarkdown(ComputeMetrics(plan, results)).c_str());
  printf("\n(%s/report.md, report.json, junit.xml)\n", dir.c_str());
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
};

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
    PrintDryRun(*plan, ExperimentDirectory(*plan), *selection);
    return kExitOk;
  }
  Result<ResultsDirectory> results = PrepareResultsDirectory(*plan, options.fresh, *selection);
  if (!results) {
    fprintf(stderr, "%s: %s\n", kWho, results.error().message.c_str());
    return results.error().kind == ErrorKind::kSystem ? kExitInfrastructure : kExitUsage;
  }
  for (const std::string& moved : results->moved_aside) {
    fprintf(stderr, "%s: moved aside: %s\n", kWho, moved.c_str());
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
  return Session{std::move(*plan), std::move(*selection), std::move(*results), std::move(*pool)};
}

SchedulerOptions MakeSchedulerOptions(const RunOptions& options, AgentPool& pool) {
  SchedulerOptions scheduler_options;
  scheduler_options.cap = pool.cap;
  if (pool.shared_slot) scheduler_options.shared_slot = &*pool.shared_slot;
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
  EventLog events(dir + "/events.jsonl");
  events.Record("session", std::move(JsonLine()
                                         .AddBool("resumed", session.results.resumed)
                                         .AddString("pool", pool.description)
                                         .AddInteger("pending_runs",
                                                     static_cast<int64_t>(queue.Unfinished()))));
  progress.Note(std::string(kWho) + ": " + plan.name + ": " + std::to_string(queue.Unfinished()) +
                " of " + std::to_string(queue.Total()) + " runs to go; " + pool.description);
  Scheduler scheduler(plan, dir, queue, *pool.client, events, progress, results,
                      MakeSchedulerOptions(options, pool));
  const int stop = scheduler.Run(signals);
  progress.Close();
  bool any_failed = false;
  // The selection's outcomes are all in `results` unless a report could not
  // be read at the start: then every report is read again, and the reports
  // say which one is wrong.
  const int report_code =
      WriteAndPrintReports(plan, dir, options, session.selection,
                           read ? &session.selection : nullptr, results, &any_failed);
  if (pool.server) {
    pool.client.reset();
    if (jobserver::Audit audit = pool.server->Shutdown(); !audit.clean()) {
      Warn("jobserver audit: " + audit.Describe());
    }
  }
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
  Result<std::string> text = ReadWholeFile(directory + "/plan.json");
  if (!text) {
    fprintf(stderr, "tierun report: %s (is it a results directory of tierun run?)\n",
            text.error().message.c_str());
    return kExitUsage;
  }
  const nlohmann::json stored = nlohmann::json::parse(*text, nullptr, false);
  Result<Plan> plan =
      stored.is_object() && stored.contains("plan")
          ? PlanFromJson(stored["plan"], directory + "/plan.json")
          : Result<Plan>(Error{ErrorKind::kInvalid, directory + "/plan.json: not a plan record"});
  if (!plan) {
    fprintf(stderr, "tierun report: %s\n", plan.error().message.c_str());
    return kExitUsage;
  }
  if (jobserver::Status confined = ConfineWritesBelow(directory); !confined) {
    fprintf(stderr, "tierun report: %s\n", confined.error().message.c_str());
    return kExitInfrastructure;
  }
  RunOptions options;
  PlanResults results(*plan);
  bool any_failed = false;
  return WriteAndPrintReports(*plan, directory, options, RunSelection{}, nullptr, results,
                              &any_failed);
}

}  // namespace tierun
