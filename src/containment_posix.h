#pragma once

/// Keeping a slot over everything its agent started (README: "What a slot
/// covers").
///
/// An agent may start processes that leave its process group (setsid, a
/// daemon, a language server, a background build); a group kill does not
/// reach them, and they would run on after the slot went back. tierun holds
/// each attempt in one of two ways, chosen when a session starts and said
/// then:
///
/// - **cgroup** (root, or a delegated cgroup v2 subtree): the session makes
///   `<own cgroup>/tierun-<role>-<pid>-<start time>/` and starts every attempt
///   inside a *box*, a child cgroup of it (reused from attempt to attempt).
///   When the attempt's process ends, the box is killed (`cgroup.kill`) and
///   the slot goes back only once the box is empty. A session's cgroup
///   outlives a SIGKILLed tierun: the next session of the same experiment
///   A guard process (cgroup_guard_posix.h) ends the session's cgroup the
///   moment tierun dies, SIGKILL included; should the guard die too, the
///   next session of the same experiment finds the cgroup (EndLeftovers) and
///   ends what is in it before starting anything.
/// - **subreaper** (elsewhere): tierun is a child subreaper
///   (PR_SET_CHILD_SUBREAPER), so a process whose parent ends is reparented
///   to tierun rather than to init. When an attempt ends, every such orphan
///   is SIGKILLed and reaped before the slot goes back, but those whose
///   environment names a run that is still running (TIERUN_RUN_DIR), which
///   are ended with that run. What only a cgroup can do: nothing survives a
///   SIGKILLed tierun, and a process that clears TIERUN_RUN_DIR and detaches
///   while its run goes on is ended at the next attempt's end, not its own.
///
/// TIERUN_CONTAINMENT=subreaper in the environment forces the second way
/// (tests; a machine whose cgroups misbehave).

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jobserver/unique_fd.h"
#include "src/cgroup_guard_posix.h"
#include "src/cgroup_posix.h"

namespace tierun {

enum class ContainmentKind { kCgroup, kSubreaper };

class Containment {
 public:
  /// Sets up the session: its cgroup below ours, named for `role` ("run",
  /// "exec", "serve"), or else the subreaper. Never fails.
  static std::unique_ptr<Containment> Create(const std::string& role);
  /// Ends what is left in the session's boxes and removes its cgroup.
  ~Containment();
  Containment(const Containment&) = delete;
  Containment& operator=(const Containment&) = delete;

  ContainmentKind kind() const { return kind_; }
  /// "cgroup v2 (PATH)" or "child subreaper (WHY no cgroup)".
  const std::string& description() const { return description_; }
  /// The session's cgroup, or empty.
  std::string session_path() const { return session_ ? session_->path() : std::string(); }

  /// A box for one attempt: its index, or -1 when there is no cgroup (the
  /// subreaper holds it then). A box whose cgroup cannot be made is -1 too,
  /// and that one attempt is held by process group alone; say it once.
  int AcquireBox();
  /// The box's directory for SpawnOptions::cgroup_fd; -1 for box -1.
  int BoxFd(int box) const;
  /// After the attempt's process ended: kills what is left in the box. True
  /// when the box is empty now; otherwise poll BoxEventsFd() for POLLPRI and
  /// call again. Box -1: always true.
  bool DrainBox(int box);
  int BoxEventsFd(int box) const;
  /// Gives an empty box back for the next attempt.
  void ReleaseBox(int box);
  /// After the box's main process ended, for a caller with nothing else to
  /// do (tierun exec and serve): kills the cgroups below the box first --
  /// the commands of the `tierun exec`s in it -- and gives those execs up to
  /// `execs_exit` to see their commands end, give their tokens back and
  /// remove their cgroups; then kills the box and waits until it is empty
  /// or `deadline` passes. False when it is not empty then.
  bool EndBox(int box, std::chrono::milliseconds execs_exit,
              std::chrono::steady_clock::time_point deadline);
  /// Kills the cgroups below each box -- those a `tierun exec` under `tierun
  /// serve` made for its command -- and leaves the boxes' own processes: the
  /// execs then see their commands end and give their tokens back.
  void KillBelowBoxes();

  /// Subreaper: SIGKILLs and reaps every child of ours that we did not
  /// start (an orphan reparented to us, Subprocess::IsStartedHere) and that
  /// `keep` does not claim, until none is left. Nothing in cgroup mode
  /// (orphans go to init there, and the box holds them).
  void EndOrphans(const std::function<bool(pid_t)>& keep);

 private:
  Containment() = default;
  void StartGuard(const std::string& own, const std::string& name);

  ContainmentKind kind_ = ContainmentKind::kSubreaper;
  std::string description_;
  std::optional<Cgroup> session_;
  jobserver::UniqueFd own_cgroup_;    ///< The session's parent, for the guard.
  std::optional<CgroupGuard> guard_;  ///< Ends the session if we die.
  /// Boxes by index; a killed box is removed once empty (nullopt then).
  std::vector<std::optional<Cgroup>> boxes_;
  std::vector<bool> killed_;
  std::vector<int> free_boxes_;
  bool warned_ = false;
};

/// The environment value TIERUN_RUN_DIR of process `pid`, or empty.
std::string RunDirOfProcess(pid_t pid);

/// Writes `<experiment>/.tierun-cgroup.<pid>-<start>` naming the session's
/// cgroup, so that a later session finds it if this one is SIGKILLed.
/// `experiment_fd` is the experiment directory; a no-op without a cgroup.
void RecordSession(int experiment_fd, const Containment& containment);
/// Removes that record (the session ended and removed its cgroup).
void ForgetSession(int experiment_fd);
/// Ends what earlier sessions of this experiment left: for each record whose
/// tierun is gone, kills its cgroup, waits until it is empty, removes it and
/// the record. Returns what it did, one line each ("ended 3 processes a
/// killed session left in CGROUP"), for the caller to print.
std::vector<std::string> EndLeftovers(int experiment_fd);

}  // namespace tierun
