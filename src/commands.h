#pragma once

/// The jobserver commands of the `tierun` executable. Each returns the
/// process exit code; only main() exits.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "jobserver/makeflags.h"
#include "jobserver/server.h"
#include "src/plan.h"

namespace tierun {

/// Exit codes of tierun itself (a command's own status is passed through).
enum ExitCode : int {
  kExitOk = 0,
  kExitRunsFailed = 1,      ///< Some run did not pass (only with --fail-on-failure).
  kExitUsage = 2,           ///< Bad command line.
  kExitInfrastructure = 3,  ///< The pool could not be created or used.
  kExitCannotExecute = 126,
  kExitNotFound = 127,
};

struct ExecOptions {
  std::vector<std::string> command;
  int jobs = 0;  ///< Size of the pool to create when none is inherited; 0 = CPUs.
  bool always_token = false;
  std::chrono::milliseconds grace{std::chrono::seconds(10)};
};

/// `tierun exec`: runs the command on one job slot of the pool in the
/// environment (or of a pool it creates) and gives the slot back however the
/// command ends.
int RunExec(const ExecOptions& options);

struct ServeOptions {
  std::vector<std::string> command;
  int jobs = 0;  ///< 0 = CPUs.
  jobserver::ServerStyle style = jobserver::ServerStyle::kAuto;
  bool print_audit = false;
  std::chrono::milliseconds grace{std::chrono::seconds(10)};
};

/// `tierun serve`: creates a pool, runs the command under it, audits it.
int RunServe(const ServeOptions& options);

struct RunOptions {
  std::string plan_path = "tierun.toml";
  int jobs = 0;  ///< Own pool size, or a cap under an inherited pool; 0 = CPUs / none.
  std::vector<std::string> tiers;  ///< Empty: all.
  std::vector<std::string> runs;   ///< TIER/SUBTEST/RUN items; empty: all.
  std::string results_dir;         ///< Overrides [experiment] results; empty: the plan's.
  bool fresh = false;
  bool dry_run = false;
  bool fail_on_failure = false;
  bool fsync = false;  ///< fsync every report before its rename (survives power loss).
  std::string junit_path;
  std::string progress = "auto";
  std::string resource_type = "agents";  ///< The CTest resource type that caps agents.
  /// At most this many agents of the experiment at once across every tierun
  /// run on the same results directory (experiment_slots_posix.h); 0 = no
  /// such limit.
  int experiment_slots = 0;
  std::chrono::milliseconds grace{std::chrono::seconds(5)};
};

/// `tierun run`: runs an experiment's tiers under one global limit.
int RunExperiment(const RunOptions& options);

struct ListOptions {
  std::string plan_path = "tierun.toml";
  std::string results_dir;  ///< Overrides [experiment] results; empty: the plan's.
};

/// `tierun list`: prints the plan's experiment, tiers and runs for scripts
/// and the CMake module (RenderRunList).
int ListExperiment(const ListOptions& options);

/// The text `tierun list` prints: one line per fact, words separated by one
/// space (ids never hold spaces), for CMake string operations to parse:
///
///     experiment <name> <absolute results directory of the experiment>
///     tier <id> <runs in the tier: runs x sub-tests> <depends_on, comma-separated, or ->
///     run <tier>/<subtest>/<run number>
///
/// Every tier line in plan order, then every run line: tier by tier in plan
/// order, sub-test by sub-test, runs 1..N.
std::string RenderRunList(const Plan& plan, const std::string& experiment_dir);

/// `tierun report DIR`: rebuilds the reports of a results directory from its
/// run reports and prints report.md.
int RebuildReport(const std::string& directory);

/// `tierun resource-spec`: prints a CTest resource spec of `slots` slots.
int PrintResourceSpec(int slots, const std::string& type, const std::string& id);

/// Number of CPUs this process may use (the default for -j).
int DefaultJobs();

/// Slots of a pool tierun creates when none is inherited: -j N if given;
/// else 1 under a make that has no pool (make without -j, or -j1, runs
/// serially, cargo#17209); else the CPUs.
int OwnPoolSlots(int jobs, const jobserver::MakeflagsEnvironment& env);

/// Slots of the pool `tierun run` creates when none is inherited: with CTest
/// resource slots, exactly those (or -j N when it is smaller), whatever the
/// CPUs -- ctest decided how many agents this test may run; without them,
/// OwnPoolSlots().
int RunPoolSlots(int jobs, const jobserver::MakeflagsEnvironment& env,
                 std::optional<int> ctest_slots);

}  // namespace tierun
