// tierun: tiers of agent processes under one GNU make jobserver limit.

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "jobserver/unique_fd.h"
#include "src/commands.h"

namespace tierun {
namespace {

constexpr const char* kDescription =
    "tierun runs processes under ONE global concurrency limit, enforced through the GNU make\n"
    "jobserver, so the limit composes with make -jN, cargo, ninja and ctest.\n";

constexpr const char* kExitCodes =
    "\nExit codes: the command's own status; 128+N when tierun was stopped by signal N;\n"
    "2 usage error; 3 the jobserver could not be created or used; 126/127 the command\n"
    "cannot be executed / was not found.\n";

std::chrono::milliseconds Seconds(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

void AddExec(CLI::App& app, ExecOptions& options, double& grace) {
  CLI::App* exec = app.add_subcommand(
      "exec",
      "Run CMD on one job slot of the jobserver pool in the environment, and give the slot\n"
      "back however CMD ends. Under make, mark the recipe with '+' (or use $(MAKE)).\n"
      "Without a pool in the environment, create one of -j N slots for CMD and its children.");
  exec->add_option("-j,--jobs", options.jobs,
                   "Slots of the pool to create when none is inherited (default: CPUs)")
      ->check(CLI::PositiveNumber);
  exec->add_flag("--token", options.always_token,
                 "Always read a token, never use the implicit slot of the paid process");
  exec->add_option("--grace", grace, "Seconds between forwarding SIGTERM and SIGKILL")
      ->capture_default_str();
  exec->add_option("command", options.command, "CMD and its arguments (after --)")->required();
  exec->footer(kExitCodes);
}

void AddServe(CLI::App& app, ServeOptions& options, double& grace, std::string& style) {
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Create a jobserver pool of N slots, run CMD under it (MAKEFLAGS and CARGO_MAKEFLAGS\n"
      "point at the pool), and audit the tokens when CMD exits. Give make and ninja no -j\n"
      "of their own.");
  serve->add_option("-j,--jobs", options.jobs, "Slots in the pool (default: CPUs)")
      ->check(CLI::PositiveNumber);
  serve
      ->add_option("--style", style,
                   "fifo (make >= 4.4, ninja >= 1.13), pipe (make <= 4.3) or auto: what CMD\n"
                   "can join -- fifo for ninja >= 1.13; for make, fifo from 4.4 on, else pipe;\n"
                   "for anything else, pipe when the make on PATH is older than 4.4, else fifo")
      ->check(CLI::IsMember({"fifo", "pipe", "auto"}))
      ->capture_default_str();
  serve->add_flag("--audit", options.print_audit, "Print the token audit even when it is clean");
  serve->add_option("--grace", grace, "Seconds between forwarding SIGTERM and SIGKILL")
      ->capture_default_str();
  serve->add_option("command", options.command, "CMD and its arguments (after --)")->required();
  serve->footer(kExitCodes);
}

void AddRun(CLI::App& app, RunOptions& options, double& grace) {
  CLI::App* run = app.add_subcommand(
      "run",
      "Run an experiment's tiers under one global limit: the jobserver of make (or cargo,\n"
      "ctest, tierun serve) that started tierun, else a pool of -j N it creates. Results go to\n"
      "<results>/<name>/ and are resumed when the plan is unchanged. Runners of disjoint\n"
      "--tiers or --runs may share one results directory at the same time (e.g. one CTest\n"
      "test per tier or per run); overlapping ones, and a run of the whole plan, are refused.");
  run->add_option("plan", options.plan_path, "The plan file")->capture_default_str();
  run->add_option("-j,--jobs", options.jobs,
                  "Pool size when none is inherited (default: CPUs); under an inherited pool, a "
                  "cap on agents")
      ->check(CLI::PositiveNumber);
  run->add_option("--tiers", options.tiers,
                  "Run only these tiers (their dependencies are "
                  "taken as done)")
      ->delimiter(',');
  run->add_option("--runs", options.runs,
                  "Run only these runs, TIER/SUBTEST/RUN with RUN a number (1) or a run "
                  "directory (run_01); dependencies outside them are taken as done")
      ->delimiter(',');
  run->add_option("--results", options.results_dir,
                  "Results directory instead of the plan's [experiment] results (relative to the "
                  "current directory); results go to DIR/<name>/");
  run->add_flag("--fresh", options.fresh,
                "Move existing results aside (<name>.old.N) and start anew (not with --tiers "
                "or --runs)");
  run->add_flag("--dry-run,-n", options.dry_run,
                "Print the runs that would start and start nothing (also under make -n)");
  run->add_option("--junit", options.junit_path, "Also write the JUnit XML report to FILE");
  run->add_option("--progress", options.progress,
                  "auto (a live view on a terminal, plain lines otherwise), bar, plain or none")
      ->check(CLI::IsMember({"auto", "bar", "plain", "none"}))
      ->capture_default_str();
  run->add_flag("--fsync", options.fsync,
                "fsync every report before renaming it into place, so results survive a power "
                "loss too (atomic renames alone survive a killed runner); slower");
  run->add_flag("--fail-on-failure", options.fail_on_failure,
                "Exit 1 when a run did not pass -- of --tiers/--runs when given (default: 0 once "
                "every run is recorded)");
  run->add_option("--grace", grace, "Seconds between SIGTERM and SIGKILL for agents")
      ->capture_default_str();
  run->add_option("--resource-type", options.resource_type,
                  "Under ctest with a resource spec, run at most as many agents as slots of this "
                  "type were allocated to the test (CTEST_RESOURCE_GROUP_*)")
      ->capture_default_str();
  run->add_option("--experiment-slots", options.experiment_slots,
                  "At most N agents of this experiment at once across every tierun run on the "
                  "same results directory (each holds one of the files <results>/.<name>.slots/"
                  "slot.1..N while its agent runs); tierun_add_experiment() passes its SLOTS, so "
                  "several ctest processes on one build tree keep the limit")
      ->check(CLI::PositiveNumber);
  run->footer(
      "\nExit codes: 0 every run recorded; 1 a run failed (with --fail-on-failure); 2 plan or\n"
      "usage error, or what this run needs is in use by another tierun run (nothing written);\n"
      "3 infrastructure error (pool, results disk); 130/143 interrupted by SIGINT/SIGTERM\n"
      "(the reports of finished runs are written).");
}

struct ResourceSpecOptions {
  int slots = 0;
  std::string type = "agents";
  std::string id = "local";
};

void AddResourceSpec(CLI::App& app, ResourceSpecOptions& options) {
  CLI::App* spec = app.add_subcommand(
      "resource-spec",
      "Print a CTest resource spec (JSON) of N slots, for ctest --resource-spec-file or\n"
      "CTEST_RESOURCE_SPEC_FILE; tests with RESOURCE_GROUPS \"<type>:1\" then share N slots.");
  spec->add_option("--slots", options.slots, "Slots of the one resource instance")
      ->required()
      ->check(CLI::PositiveNumber);
  spec->add_option("--type", options.type, "Resource type (lower case: ^[a-z_][a-z0-9_]*$)")
      ->capture_default_str();
  spec->add_option("--id", options.id, "Instance id (^[a-z0-9_]+$)")->capture_default_str();
}

void AddList(CLI::App& app, ListOptions& options) {
  CLI::App* list = app.add_subcommand(
      "list",
      "Print the plan's experiment, tiers and runs as machine-readable lines, for the CMake\n"
      "module (tierun_add_experiment) and other scripts; one fact per line, words separated\n"
      "by one space:\n"
      "  experiment <name> <absolute results directory of the experiment: rest of the line>\n"
      "  tier <id> <runs in the tier = runs x sub-tests> <depends_on, comma-separated, or ->\n"
      "  run <tier>/<subtest>/<run number>\n"
      "All tier lines (plan order), then all run lines (tier, sub-test, run 1..N), each one\n"
      "a valid --runs item of tierun run. A plan error goes to stderr, exit 2.");
  list->add_option("plan", options.plan_path, "The plan file")->capture_default_str();
  list->add_option("--results", options.results_dir,
                   "Results directory instead of the plan's [experiment] results (as for "
                   "tierun run --results)");
}

void AddReport(CLI::App& app, std::string& directory) {
  CLI::App* report = app.add_subcommand(
      "report", "Rebuild the reports of a results directory from its run reports; print report.md");
  report->add_option("directory", directory, "results/<name>")->required();
}

/// Opens /dev/null on each of fds 0-2 that is closed. Run before anything
/// opens an fd: the next pipe would land there, and a pool whose fds are also
/// stdout and stderr (`tierun serve -j2 -- CMD >&- 2>&-` handed out
/// --jobserver-auth=1,2) takes every line printed as tokens. Not close-on-exec:
/// children get it as their own stdin, stdout or stderr. False on failure.
bool OpenClosedStandardFds() {
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    const int flags = fd == STDIN_FILENO ? O_RDONLY : O_WRONLY;
    // 0..fd-1 are open, so open() gives the lowest free fd: this one.
    const int opened = jobserver::RetryOnEintr([&] { return open("/dev/null", flags); });
    if (opened != fd) {
      if (opened != -1) close(opened);
      return false;
    }
  }
  return true;
}

int Main(int argc, char** argv) {
  if (!OpenClosedStandardFds()) {
    perror("tierun: cannot open /dev/null on a closed standard fd");
    return kExitInfrastructure;
  }
  // A pool's reader may be gone; a failed write must be an error, not death.
  signal(SIGPIPE, SIG_IGN);
  // An inherited SIG_IGN would make the kernel reap our children itself, and
  // waitpid() could then never report how CMD ended.
  signal(SIGCHLD, SIG_DFL);
  CLI::App app(kDescription, "tierun");
  app.set_version_flag("--version", "tierun 0.1.0");
  app.require_subcommand(1);
  ExecOptions exec_options;
  ServeOptions serve_options;
  RunOptions run_options;
  ListOptions list_options;
  std::string report_directory;
  double exec_grace = 10;
  double serve_grace = 10;
  double run_grace = 5;
  std::string style = "auto";
  AddRun(app, run_options, run_grace);
  AddList(app, list_options);
  AddReport(app, report_directory);
  ResourceSpecOptions spec_options;
  AddResourceSpec(app, spec_options);
  AddExec(app, exec_options, exec_grace);
  AddServe(app, serve_options, serve_grace, style);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (app.got_subcommand("run")) {
    run_options.grace = Seconds(run_grace);
    return RunExperiment(run_options);
  }
  if (app.got_subcommand("list")) return ListExperiment(list_options);
  if (app.got_subcommand("report")) return RebuildReport(report_directory);
  if (app.got_subcommand("resource-spec")) {
    return PrintResourceSpec(spec_options.slots, spec_options.type, spec_options.id);
  }
  if (app.got_subcommand("exec")) {
    exec_options.grace = Seconds(exec_grace);
    return RunExec(exec_options);
  }
  serve_options.grace = Seconds(serve_grace);
  serve_options.style = *jobserver::ParseServerStyle(style);
  return RunServe(serve_options);
}

}  // namespace
}  // namespace tierun

int main(int argc, char** argv) { return tierun::Main(argc, argv); }
