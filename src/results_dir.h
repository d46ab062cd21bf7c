#pragma once

/// The experiment's results directory, results/<name>/, as the checkpoint
/// (docs/design.md section 4.7).
///
/// A new directory gets plan.json (the normalised plan and its hash). An
/// existing one is resumed when its plan hash matches: runs with a
/// report.json are complete and are not run again; run directories without
/// one are moved aside (run_01 -> run_01.incomplete.1), never deleted. A
/// changed plan is refused with what changed; --fresh moves the whole old
/// directory aside (results/<name>.old.1).
///
/// While a run is in progress its directory has a hidden name nobody can
/// predict, <tier>/<subtest>/.run_01.<16 hex digits> (TIERUN_RUN_DIR and
/// {run_dir} name it, for every attempt and the judge of that run in one
/// session); when the run completes, its report.json is written inside and
/// the directory is renamed run_01: the rename is the commit, and what users
/// and every report see is the same layout as ever. A process an attempt
/// left behind (its agent SIGKILLed with a runner) that writes by that path
/// later finds nothing there, or the directory moved aside, never the
/// directory of another attempt. On resume, a .run_NN.* that holds a
/// report.json is a completed run whose rename was cut short: the rename is
/// finished; any other is incomplete and moved aside as run_NN.incomplete.N.
///
/// Many runners may share one directory when each runs a part of the plan
/// (--tiers, --runs: one CTest test per tier or per run), so locks (flock(2),
/// released by the kernel however a runner ends) decide who may use what:
///
///     results/.<name>.setup.lock       LOCK_EX, blocking, held for moments
///     results/<name>/.lock             whole run: LOCK_EX; scoped run: LOCK_SH
///     results/<name>/<tier>/.lock      --tiers: LOCK_EX; --runs: LOCK_SH
///     results/<name>/<tier>/<subtest>/.run_01.lock    --runs: LOCK_EX
///
/// The last three are held for the whole session and taken without
/// waiting: a runner that finds what it needs busy stops with an error
/// (kUnusable) naming it. So a run of the whole plan excludes every other
/// runner and is excluded by any, runners of disjoint selections coexist,
/// and overlapping selections exclude each other, whatever mix of --tiers
/// and --runs they use. The setup lock, beside the directory because the
/// directory may not exist yet, serialises the short critical sections of
/// every runner: creating the directory and plan.json, comparing the plan,
/// --fresh, moving incomplete runs aside, and rebuilding the reports at the
/// end. Runners started at the same instant on a missing directory wait
/// there in turn: one creates plan.json, the others resume it. A scoped
/// runner moves aside only incomplete runs of its own selection, after it
/// has locked them, never those a concurrent runner may be running; and it
/// refuses --fresh, which would move everybody's results aside.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobserver/error.h"
#include "jobserver/unique_fd.h"
#include "src/plan.h"
#include "src/run_selection.h"
#include "src/signals_posix.h"

namespace tierun {

struct ResultsDirectory {
  std::string path;  ///< Absolute.
  bool resumed = false;
  std::vector<std::string> moved_aside;    ///< Incomplete runs, or the old directory.
  std::vector<jobserver::UniqueFd> locks;  ///< Held while the runner uses it.
  /// The setup lock's file, opened once before any agent ran and unlocked
  /// after setup: RelockForUpdate() takes it again through this descriptor,
  /// whatever an agent has put at its path (or its directory's) meanwhile.
  jobserver::UniqueFd setup_lock;
  std::string setup_lock_path;
};

/// How a runner waits for the setup lock when another runner holds it.
struct LockWait {
  /// A termination signal read from here ends the wait at once: an error of
  /// kind kCancelled, with the signal's number in `*signal`. Null: wait until
  /// the lock is free (a signal's default action still ends the process).
  ScopedSignalFd* signals = nullptr;
  int* signal = nullptr;
  /// Called once, with the lock file's path, when the wait begins.
  std::function<void(const std::string& lock_path)> on_wait;
};

/// The directory `plan` writes to: <results>/<name>, absolute.
std::string ExperimentDirectory(const Plan& plan);

/// Opens (resume), creates, or with `fresh` renews the results directory
/// for the runs of `selection`, and takes the selection's locks. Errors:
/// kInvalid for a changed plan, a directory tierun did not make, or `fresh`
/// with a scoped selection (the message says what to do); kUnusable when
/// another runner holds what this one needs; kSystem for I/O. From then on
/// this process's writes are confined below the directory
/// (ConfineWritesBelow(), atomic_file.h).
jobserver::Result<ResultsDirectory> PrepareResultsDirectory(
    const Plan& plan, bool fresh, const RunSelection& selection = RunSelection{},
    const LockWait& wait = {});

/// Takes the setup lock of the results directory `dir`, waiting for it: while
/// it is held, no other runner sets up `dir` or rebuilds its reports. Hold it
/// across reading the run reports and writing the reports built from them,
/// so the last runner to finish writes reports that count every run.
/// The wait watches `wait.signals` in the same poll() as a helper process
/// that blocks in flock(2) on our open file description (a lock it gets is
/// ours): a signal kills the helper and ends the wait at once.
jobserver::Result<jobserver::UniqueFd> LockForUpdate(const std::string& dir,
                                                     const LockWait& wait = {});

/// Takes the setup lock of `results` again (see LockForUpdate()), through
/// the descriptor PrepareResultsDirectory() opened.
jobserver::Status RelockForUpdate(const ResultsDirectory& results, const LockWait& wait = {});

/// A new hidden name for run `run` while it is in progress: ".run_01." and
/// 16 hex digits from getrandom(2).
std::string NewInProgressRunName(int run);
/// The run number of an in-progress name NewInProgressRunName() made, or
/// nullopt for any other name (".run_01.lock" included).
std::optional<int> ParseInProgressRunName(std::string_view name);

/// Commits a completed run: renames the in-progress directory `run_dir`
/// (which holds its report.json) to run_NN beside it, never over anything.
/// Whatever already is at run_NN was not made by this runner (it locked the
/// run and moved aside what was there at setup): it is moved aside first
/// (run_NN.incomplete.N, never deleted) and its new name added to
/// `moved_aside`.
jobserver::Status CommitRunDirectory(const std::string& run_dir, int run,
                                     std::vector<std::string>* moved_aside);

/// True when <dir>/<tier>/<subtest>/run_NN/report.json exists.
bool RunIsComplete(const std::string& dir, const std::string& tier, const std::string& subtest,
                   int run);

/// Lists how two normalised plans differ ("runs: 3 -> 5"), at most `limit`.
std::vector<std::string> DescribePlanChanges(const nlohmann::json& before,
                                             const nlohmann::json& after, size_t limit = 8);

}  // namespace tierun
