#include "src/results_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <utility>

#include "src/atomic_file.h"
#include "src/reports.h"
#include "src/subprocess_posix.h"

namespace tierun {
namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;
using jobserver::Status;
using jobserver::UniqueFd;
using nlohmann::json;

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

std::string Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

/// Renames `path` to the first free `base<infix>N` in the same directory
/// (`base` defaults to `path`); returns the new name.
Result<std::string> MoveAside(const std::string& path, const std::string& infix,
                              const std::string& base = {}) {
  for (int n = 1; n < 10000; ++n) {
    const std::string target = (base.empty() ? path : base) + infix + std::to_string(n);
    if (Exists(target)) continue;
    if (Status moved = RenameWithinDirectory(path, Basename(target)); !moved) {
      return Error{moved.error().kind, "cannot move " + path + " aside: " + moved.error().message};
    }
    return target;
  }
  return Error{ErrorKind::kSystem, "no free name to move " + path + " aside"};
}

/// True when `dir` holds nothing but what Create() makes before plan.json
/// exists: the session lock file and plan.json's temporary.
bool HoldsOnlyCreationLeftovers(const std::string& dir) {
  DIR* stream = opendir(dir.c_str());
  if (stream == nullptr) return false;
  bool only_leftovers = true;
  while (const struct dirent* entry = readdir(stream)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == ".." || name == ".lock" || name.starts_with("plan.json.tmp.")) {
      continue;
    }
    only_leftovers = false;
  }
  closedir(stream);
  return only_leftovers;
}

/// {"results", ".<name>.setup.lock"} for results/<name>: beside the
/// directory, which may not exist yet and which --fresh renames.
std::pair<std::string, std::string> SetupLockPlace(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const size_t slash = dir.rfind('/');
  if (slash == std::string::npos) return {".", "." + dir + ".setup.lock"};
  return {slash == 0 ? "/" : dir.substr(0, slash), "." + dir.substr(slash + 1) + ".setup.lock"};
}

Result<UniqueFd> OpenLockFile(const std::string& path) { return OpenFile(path, O_RDWR | O_CREAT); }

/// The helper of WaitForLock(), between fork() and _exit(): blocks in
/// flock() on the open file description it shares with its parent, so the
/// lock it gets is the parent's, and says how that went on `report_fd`.
[[noreturn]] void RunLockHelper(int lock_fd, int report_fd, pid_t parent) {
  // Dies with its parent (a SIGKILLed runner must not leave it waiting), and
  // holds none of the parent's other fds (a pipe whose reader waits for EOF).
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent) _exit(1);
  const int low = std::min(lock_fd, report_fd);
  const int high = std::max(lock_fd, report_fd);
  if (low > 0) CloseRange(0, static_cast<unsigned>(low - 1));
  CloseRange(static_cast<unsigned>(low + 1), static_cast<unsigned>(high - 1));
  CloseRange(static_cast<unsigned>(high + 1), ~0u);
  const char outcome =
      jobserver::RetryOnEintr([&] { return flock(lock_fd, LOCK_EX); }) == 0 ? 'l' : 'e';
  _exit(write(report_fd, &outcome, 1) == 1 ? 0 : 1);
}

/// Waits for the lock on `fd` while watching `signals`: flock() cannot be
/// polled, and with the termination signals blocked (they are read from a
/// signalfd) nothing would interrupt it, so a helper process blocks in it.
Status WaitForLock(int fd, const std::string& path, ScopedSignalFd& signals, int* signal) {
  int ends[2];
  if (pipe2(ends, O_CLOEXEC) == -1) return jobserver::SystemError("pipe2");
  UniqueFd report_read(ends[0]);
  UniqueFd report_write(ends[1]);
  const pid_t parent = getpid();
  const pid_t helper = fork();
  if (helper == -1) return jobserver::SystemError("fork");
  if (helper == 0) RunLockHelper(fd, report_write.get(), parent);
  NoteChildStarted(helper);
  report_write.reset();
  const auto reap = [helper] {
    jobserver::RetryOnEintr([&] { return waitpid(helper, nullptr, 0); });
    NoteChildReaped(helper);
  };
  while (true) {
    struct pollfd fds[2] = {{signals.fd(), POLLIN, 0}, {report_read.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) == -1 && errno != EINTR) {
      const Error error = jobserver::SystemError("poll");
      kill(helper, SIGKILL);
      reap();
      return error;
    }
    if ((fds[0].revents & POLLIN) && (*signal = signals.Read()) != 0) {
      kill(helper, SIGKILL);  // Its request dies with it; a lock it just got is let go.
      reap();
      jobserver::RetryOnEintr([&] { return flock(fd, LOCK_UN); });
      return Error{ErrorKind::kCancelled, "interrupted while waiting for " + path};
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      char outcome = 0;
      const ssize_t n =
          jobserver::RetryOnEintr([&] { return read(report_read.get(), &outcome, 1); });
      reap();
      if (n == 1 && outcome == 'l') return {};
      return Error{ErrorKind::kSystem,
                   "cannot lock " + path + " (the process waiting for it failed)"};
    }
  }
}

/// Takes the setup lock on `fd` (the file `path`), waiting for it as `wait`
/// says.
Status LockSetup(int fd, const std::string& path, const LockWait& wait) {
  if (jobserver::RetryOnEintr([&] { return flock(fd, LOCK_EX | LOCK_NB); }) == 0) return {};
  if (errno != EWOULDBLOCK) return jobserver::SystemError("cannot lock " + path);
  if (wait.on_wait) wait.on_wait(path);
  if (wait.signals != nullptr) return WaitForLock(fd, path, *wait.signals, wait.signal);
  if (jobserver::RetryOnEintr([&] { return flock(fd, LOCK_EX); }) == -1) {
    return jobserver::SystemError("cannot lock " + path);
  }
  return {};
}

/// Locks `path` with `operation` (LOCK_EX or LOCK_SH) without waiting;
/// kUnusable with `busy` when another open file description holds it.
Result<UniqueFd> TryLock(const std::string& path, int operation, const std::string& busy) {
  Result<UniqueFd> fd = OpenLockFile(path);
  if (!fd) return fd.error();
  if (jobserver::RetryOnEintr([&] { return flock(fd->get(), operation | LOCK_NB); }) == -1) {
    if (errno == EWOULDBLOCK) return Error{ErrorKind::kUnusable, busy};
    return jobserver::SystemError("cannot lock " + path);
  }
  return fd;
}

/// <dir>/.lock: exclusive for a run of the whole plan, shared for a scoped
/// one. A whole run that finds it busy says whether scoped runs hold it.
Result<UniqueFd> LockSession(const std::string& dir, const RunSelection& selection) {
  const std::string path = dir + "/.lock";
  if (selection.scoped()) {
    return TryLock(path, LOCK_SH,
                   "another tierun run of the whole experiment is using " + dir +
                       "; a run of --tiers or --runs cannot share it");
  }
  Result<UniqueFd> lock = TryLock(path, LOCK_EX, "another tierun run is using " + dir);
  if (!lock && lock.error().kind == ErrorKind::kUnusable && TryLock(path, LOCK_SH, "").ok()) {
    return Error{ErrorKind::kUnusable, "a scoped tierun run (--tiers or --runs) is using " + dir +
                                           "; a run of the whole experiment cannot share it"};
  }
  return lock;
}

/// Locks the parts of `dir` a scoped selection runs: for --tiers each tier
/// exclusively; for --runs each tier shared and each run exclusively.
Result<std::vector<UniqueFd>> LockSelection(const std::string& dir, const RunSelection& selection) {
  std::vector<UniqueFd> locks;
  if (!selection.scoped()) return locks;
  const bool whole_tiers = selection.scope == RunSelection::Scope::kTiers;
  for (const std::string& tier : selection.tiers) {
    if (Status made = MakeDirectories(dir + "/" + tier); !made) return made.error();
    Result<UniqueFd> lock =
        TryLock(dir + "/" + tier + "/.lock", whole_tiers ? LOCK_EX : LOCK_SH,
                "tier " + tier + " of " + dir + " is in use by another tierun run" +
                    (whole_tiers ? " (--tiers or --runs)" : " (--tiers)"));
    if (!lock) return lock.error();
    locks.push_back(std::move(*lock));
  }
  for (const auto& [tier, subtest, run] : selection.runs) {
    const std::string parent = dir + "/" + tier + "/" + subtest;
    if (Status made = MakeDirectories(parent); !made) return made.error();
    Result<UniqueFd> lock = TryLock(parent + "/." + RunDirectoryName(run) + ".lock", LOCK_EX,
                                    "run " + tier + "/" + subtest + "/" + std::to_string(run) +
                                        " of " + dir + " is in use by another tierun run");
    if (!lock) return lock.error();
    locks.push_back(std::move(*lock));
  }
  return locks;
}

std::string Abbreviate(std::string text) {
  constexpr size_t kMax = 100;
  if (text.size() > kMax) text = text.substr(0, kMax - 3) + "...";
  return text;
}

json PlanFile(const Plan& plan) { return {{"hash", PlanHash(plan)}, {"plan", PlanToJson(plan)}}; }

Result<json> ReadPlanFile(const std::string& dir) {
  Result<std::string> text = ReadWholeFile(dir + "/plan.json");
  if (!text) return text.error();
  json parsed = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.contains("hash") || !parsed.contains("plan")) {
    return Error{ErrorKind::kInvalid, dir + "/plan.json is not a tierun plan record"};
  }
  return parsed;
}

/// The run number of "run_01" (exactly as RunDirectoryName() writes it).
std::optional<int> ParseRunName(std::string_view name) {
  if (!name.starts_with("run_")) return std::nullopt;
  const std::string_view number = name.substr(4);
  int run = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), run);
  if (error != std::errc() || end != number.data() + number.size() || run < 1 ||
      RunDirectoryName(run) != name) {
    return std::nullopt;
  }
  return run;
}

/// The run directories of one sub-test directory, by run number: finished
/// or not (run_NN), and in progress when a runner stopped (.run_NN.*).
struct SubtestListing {
  std::set<int> visible;
  std::vector<std::pair<int, std::string>> in_progress;
};

/// Lists `subtest_dir` (through the confinement); a missing one is empty.
Result<SubtestListing> ListRunDirectories(const std::string& subtest_dir, int runs) {
  SubtestListing listing;
  Result<bool> exists = PathExists(subtest_dir);
  if (!exists) return exists.error();
  if (!*exists) return listing;  // No run of it has started yet.
  Result<UniqueFd> fd = OpenDirectory(subtest_dir);
  if (!fd) return fd.error();
  std::unique_ptr<DIR, int (*)(DIR*)> stream(fdopendir(fd->release()), closedir);
  if (!stream) return jobserver::SystemError("cannot list " + subtest_dir);
  while (const struct dirent* entry = readdir(stream.get())) {
    const std::string_view name = entry->d_name;
    if (std::optional<int> run = ParseInProgressRunName(name); run && *run <= runs) {
      listing.in_progress.emplace_back(*run, std::string(name));
    } else if (std::optional<int> visible = ParseRunName(name); visible && *visible <= runs) {
      listing.visible.insert(*visible);
    }
  }
  return listing;
}

/// renameat2(RENAME_NOREPLACE) within `dir_fd`; where the filesystem does
/// not offer it (EINVAL), a look and a plain rename: the run is locked by
/// this runner, so only something planted could slip in between.
int RenameNoReplace(int dir_fd, const std::string& from, const std::string& to) {
  if (renameat2(dir_fd, from.c_str(), dir_fd, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL) return -1;
  struct stat st;
  if (fstatat(dir_fd, to.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    errno = EEXIST;
    return -1;
  }
  return renameat(dir_fd, from.c_str(), dir_fd, to.c_str());
}

bool HoldsReport(const std::string& run_dir) {
  const Result<bool> exists = PathExists(run_dir + "/report.json");
  return exists && *exists;
}

/// Settles the selected runs of one sub-test directory for a new session:
/// run_NN without a report is moved aside; a .run_NN.* with a report (a
/// commit cut short) becomes run_NN; any other .run_NN.* is moved aside.
/// Only selected runs: the others may be a concurrent runner's, at work.
Status SettleSubtest(const std::string& subtest_dir, const Tier& tier, const std::string& subtest,
                     const RunSelection& selection, std::vector<std::string>& moved) {
  Result<SubtestListing> listing = ListRunDirectories(subtest_dir, tier.runs);
  if (!listing) return listing.error();
  for (const int run : listing->visible) {
    const std::string run_dir = subtest_dir + "/" + RunDirectoryName(run);
    if (!selection.Has(tier.id, subtest, run) || HoldsReport(run_dir)) continue;
    Result<std::string> target = MoveAside(run_dir, ".incomplete.");
    if (!target) return target.error();
    moved.push_back(*target);
  }
  for (const auto& [run, name] : listing->in_progress) {
    if (!selection.Has(tier.id, subtest, run)) continue;
    const std::string run_dir = subtest_dir + "/" + name;
    if (HoldsReport(run_dir)) {
      if (Status committed = CommitRunDirectory(run_dir, run, &moved); !committed) return committed;
      continue;
    }
    Result<std::string> target =
        MoveAside(run_dir, ".incomplete.", subtest_dir + "/" + RunDirectoryName(run));
    if (!target) return target.error();
    moved.push_back(*target);
  }
  return {};
}

/// Settles the run directories of every selected run (SettleSubtest()).
Result<std::vector<std::string>> MoveIncompleteRuns(const std::string& dir, const Plan& plan,
                                                    const RunSelection& selection) {
  std::vector<std::string> moved;
  for (const Tier& tier : plan.tiers) {
    if (!selection.HasTier(tier.id)) continue;
    for (const std::string& subtest : tier.subtests) {
      const std::string subtest_dir = dir + "/" + tier.id + "/" + subtest;
      if (Status settled = SettleSubtest(subtest_dir, tier, subtest, selection, moved); !settled) {
        return settled.error();
      }
    }
  }
  return moved;
}

/// Adds the selection's locks to `results`.
Status AddSelectionLocks(ResultsDirectory& results, const RunSelection& selection) {
  Result<std::vector<UniqueFd>> locks = LockSelection(results.path, selection);
  if (!locks) return locks.error();
  for (UniqueFd& lock : *locks) results.locks.push_back(std::move(lock));
  return {};
}

/// A new directory (or one a runner left before plan.json was written).
Result<ResultsDirectory> Create(const Plan& plan, const std::string& dir,
                                const RunSelection& selection) {
  // A confinement to `dir` from before --fresh moved it aside would lead
  // MakeDirectories() to the old directory, through its descriptor.
  if (Status lifted = ConfineWritesBelow(""); !lifted) return lifted.error();
  if (Status made = MakeDirectories(dir); !made) return made.error();
  if (Status confined = ConfineWritesBelow(dir); !confined) return confined.error();
  Result<UniqueFd> lock = LockSession(dir, selection);
  if (!lock) return lock.error();
  if (Status written = WriteFileAtomically(dir + "/plan.json", PlanFile(plan).dump(2) + "\n");
      !written) {
    return written.error();
  }
  ResultsDirectory results;
  results.path = dir;
  results.locks.push_back(std::move(*lock));
  if (Status locked = AddSelectionLocks(results, selection); !locked) return locked.error();
  return results;
}

Error PlanChanged(const std::string& dir, const json& before, const Plan& plan, bool scoped) {
  std::string message = dir + " holds results of a different plan; what changed:";
  for (const std::string& change : DescribePlanChanges(before, PlanToJson(plan))) {
    message += "\n  " + change;
  }
  // A scoped runner (one CTest test of many) cannot take --fresh: say what
  // moves the old results aside for all of them at once.
  message += scoped ? "\nA run of some tiers or runs (as in a CTest test) cannot take --fresh, "
                      "which would move the other runners' results aside: rename or remove " +
                          dir + " and run again, or give the experiment another name."
                    : "\nRun with --fresh to move the old results aside and start anew, or "
                      "give the experiment another name.";
  return Error{ErrorKind::kInvalid, message};
}

Error NotMadeByTierun(const std::string& dir) {
  return Error{ErrorKind::kInvalid, dir +
                                        " exists but was not made by tierun (no plan.json); "
                                        "move it away or choose another results directory"};
}

/// PrepareResultsDirectory() under the setup lock.
Result<ResultsDirectory> PrepareLocked(const Plan& plan, const std::string& dir, bool fresh,
                                       const RunSelection& selection) {
  if (!Exists(dir)) return Create(plan, dir, selection);
  if (!Exists(dir + "/plan.json")) {
    // A runner killed between mkdir and writing plan.json leaves only these.
    if (HoldsOnlyCreationLeftovers(dir)) return Create(plan, dir, selection);
    return NotMadeByTierun(dir);
  }
  // Before anything below it is locked, moved aside or written, and again
  // after --fresh has moved it: Create() confines to the new one.
  if (Status confined = ConfineWritesBelow(dir); !confined) return confined.error();
  Result<UniqueFd> lock = LockSession(dir, selection);
  if (!lock) return lock.error();
  Result<json> stored = ReadPlanFile(dir);
  if (!stored) return stored.error();
  if (fresh) {
    // Only a run of the whole plan gets here, holding <dir>/.lock
    // exclusively and the setup lock: no runner uses the old directory, and
    // none can look at the new one before plan.json is in it.
    Result<std::string> old = MoveAside(dir, ".old.");
    if (!old) return old.error();
    Result<ResultsDirectory> created = Create(plan, dir, selection);
    if (created) created->moved_aside.push_back(*old);
    return created;
  }
  if ((*stored)["hash"] != PlanHash(plan)) {
    return PlanChanged(dir, (*stored)["plan"], plan, selection.scoped());
  }
  ResultsDirectory results;
  results.path = dir;
  results.resumed = true;
  results.locks.push_back(std::move(*lock));
  if (Status locked = AddSelectionLocks(results, selection); !locked) return locked.error();
  Result<std::vector<std::string>> moved = MoveIncompleteRuns(dir, plan, selection);
  if (!moved) return moved.error();
  results.moved_aside = std::move(*moved);
  return results;
}

}  // namespace

std::string ExperimentDirectory(const Plan& plan) {
  return Absolute(plan.results_dir) + "/" + plan.name;
}

std::string NewInProgressRunName(int run) {
  uint64_t random = 0;
  // getrandom() of 8 bytes never returns short once the pool is ready; a
  // failure leaves a name from the clock and pid, unique if predictable.
  if (getrandom(&random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
    random = static_cast<uint64_t>(time(nullptr)) << 20 ^ static_cast<uint64_t>(getpid());
  }
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(random));
  return "." + RunDirectoryName(run) + "." + hex;
}

std::optional<int> ParseInProgressRunName(std::string_view name) {
  constexpr size_t kHexDigits = 16;
  if (!name.starts_with(".run_") || name.size() < 5 + 1 + 1 + kHexDigits) return std::nullopt;
  const std::string_view hex = name.substr(name.size() - kHexDigits);
  if (name[name.size() - kHexDigits - 1] != '.' || !std::all_of(hex.begin(), hex.end(), [](char c) {
        return isdigit(c) || (c >= 'a' && c <= 'f');
      })) {
    return std::nullopt;
  }
  return ParseRunName(name.substr(1, name.size() - kHexDigits - 2));
}

Status CommitRunDirectory(const std::string& run_dir, int run,
                          std::vector<std::string>* moved_aside) {
  const std::string parent = run_dir.substr(0, run_dir.rfind('/'));
  const std::string name = run_dir.substr(run_dir.rfind('/') + 1);
  const std::string final_name = RunDirectoryName(run);
  Result<UniqueFd> fd = OpenDirectory(parent);
  if (!fd) return fd.error();
  for (int tries = 0; tries < 2; ++tries) {
    if (RenameNoReplace(fd->get(), name, final_name) == 0) return {};
    if (errno != EEXIST && errno != ENOTEMPTY) {
      return jobserver::SystemError("cannot rename " + run_dir + " to " + final_name);
    }
    // Not this runner's: it moved aside what was there when it set up.
    Result<std::string> target = MoveAside(parent + "/" + final_name, ".incomplete.");
    if (!target) return target.error();
    if (moved_aside != nullptr) moved_aside->push_back(*target);
  }
  return Error{ErrorKind::kSystem, "cannot rename " + run_dir + " to " + final_name +
                                       ": something keeps appearing there"};
}

bool RunIsComplete(const std::string& dir, const std::string& tier, const std::string& subtest,
                   int run) {
  const Result<bool> exists = PathExists(RunDirectory(dir, tier, subtest, run) + "/report.json");
  return exists && *exists;
}

Result<ResultsDirectory> PrepareResultsDirectory(const Plan& plan, bool fresh,
                                                 const RunSelection& selection,
                                                 const LockWait& wait) {
  if (fresh && selection.scoped()) {
    return Error{ErrorKind::kInvalid,
                 "--fresh moves the whole results directory aside; it cannot be combined with "
                 "--tiers/--runs"};
  }
  const std::string dir = ExperimentDirectory(plan);
  // A foreign directory gets no lock file beside it. Every directory tierun
  // makes has one from before it was made, and is judged under the lock:
  // unlocked, a directory being created can look foreign for a moment.
  const auto [parent, lock_name] = SetupLockPlace(dir);
  if (!Exists(parent + "/" + lock_name) && Exists(dir) && !Exists(dir + "/plan.json") &&
      !HoldsOnlyCreationLeftovers(dir)) {
    return NotMadeByTierun(dir);
  }
  Result<UniqueFd> setup = LockForUpdate(dir, wait);
  if (!setup) return setup.error();
  Result<ResultsDirectory> results = PrepareLocked(plan, dir, fresh, selection);
  if (!results) return results;
  // Kept open, unlocked, for the rebuild of the reports at the end.
  jobserver::RetryOnEintr([&] { return flock(setup->get(), LOCK_UN); });
  results->setup_lock = std::move(*setup);
  results->setup_lock_path = parent + "/" + lock_name;
  return results;
}

Result<UniqueFd> LockForUpdate(const std::string& dir, const LockWait& wait) {
  const auto [parent, name] = SetupLockPlace(dir);
  if (Status made = MakeDirectories(parent); !made) return made.error();
  const std::string path = parent + "/" + name;
  Result<UniqueFd> fd = OpenLockFile(path);
  if (!fd) return fd.error();
  if (Status locked = LockSetup(fd->get(), path, wait); !locked) return locked.error();
  return fd;
}

Status RelockForUpdate(const ResultsDirectory& results, const LockWait& wait) {
  return LockSetup(results.setup_lock.get(), results.setup_lock_path, wait);
}

std::vector<std::string> DescribePlanChanges(const json& before, const json& after, size_t limit) {
  std::vector<std::string> changes;
  std::function<void(const std::string&, const json&, const json&)> walk =
      [&](const std::string& where, const json& a, const json& b) {
        if (changes.size() >= limit || a == b) return;
        if (a.is_object() && b.is_object()) {
          for (const auto& [key, value] : a.items()) {
            walk(where.empty() ? key : where + "." + key, value, b.contains(key) ? b[key] : json());
          }
          for (const auto& [key, value] : b.items()) {
            if (!a.contains(key)) walk(where.empty() ? key : where + "." + key, json(), value);
          }
          return;
        }
        if (a.is_array() && b.is_array() && a.size() == b.size()) {
          for (size_t i = 0; i < a.size(); ++i)
            walk(where + "[" + std::to_string(i) + "]", a[i], b[i]);
          return;
        }
        changes.push_back(where + ": " + Abbreviate(a.dump()) + " -> " + Abbreviate(b.dump()));
      };
  walk("", before, after);
  return changes;
}

}  // namespace tierun
