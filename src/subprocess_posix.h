#pragma once

/// A child process that owns its pid: started with fork/exec, optionally in a
/// process group of its own, waited for through a pidfd so an event loop can
/// poll its exit next to the jobserver and a signalfd. Destroying a running
/// Subprocess kills its group and reaps it: no zombie, no orphan. The child
/// gets SIGKILL if this process dies first (PR_SET_PDEATHSIG), so it never
/// runs on a slot nobody accounts for any more.

#include <sys/types.h>

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "jobserver/error.h"
#include "jobserver/unique_fd.h"
#include "src/exit_status.h"

namespace tierun {

/// Closes fds [first, last]: close_range(2), or one by one before Linux 5.9.
/// Async-signal-safe (a child between fork and exec may call it).
void CloseRange(unsigned first, unsigned last);

/// Every fork of ours registers its child here until it reaps it, so that a
/// child subreaper can tell the processes it started (Subprocess, helpers)
/// from orphans reparented to it (containment_posix.h). Thread-safe.
void NoteChildStarted(pid_t pid);
void NoteChildReaped(pid_t pid);
/// Held from a fork until its child is registered, and while a subreaper
/// sorts its children into its own and orphans, so that the sorting never
/// sees a child of ours not registered yet (a launcher thread forks while
/// the event loop sorts).
class ChildRegistryLock {
 public:
  ChildRegistryLock();

 private:
  std::unique_lock<std::recursive_mutex> lock_;
};

struct SpawnOptions {
  std::vector<std::string> argv = {};
  /// Variables to set (or replace) on top of this process's environment.
  std::vector<std::pair<std::string, std::string>> environment = {};
  /// Fds the child inherits although they are O_CLOEXEC here (pipe pools).
  std::vector<int> inherit_fds = {};
  /// Close every fd but 0, 1, 2 and `inherit_fds` in the child, whatever
  /// this process inherited without O_CLOEXEC: an agent sees only its stdio
  /// and its pool.
  bool close_other_fds = false;
  /// Put the child in a process group of its own, so a timeout or a
  /// forwarded signal reaches everything it started.
  bool new_process_group = true;
  /// Redirections; -1 keeps ours.
  int stdout_fd = -1;
  int stderr_fd = -1;
  /// A cgroup v2 directory (cgroup_posix.h) to start the child in, or -1.
  /// The child is created there (clone3's CLONE_INTO_CGROUP), so not even
  /// its first instruction runs outside it; on a kernel without clone3 it
  /// moves itself there before exec.
  int cgroup_fd = -1;
};

class Subprocess {
 public:
  /// Starts the child. kSystem when fork fails; kUnusable (with errno's text)
  /// when the program cannot be executed -- the child never ran.
  static jobserver::Result<Subprocess> Spawn(const SpawnOptions& options);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&&) = delete;
  Subprocess(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  /// True while `pid` is a Subprocess of ours not yet reaped (any thread's):
  /// a child of ours that is not one is an orphan reparented to us.
  static bool IsStartedHere(pid_t pid);
  /// Readable once the child has exited.
  int pidfd() const { return pidfd_.get(); }

  /// Reaps the child if it has exited; never blocks.
  std::optional<ExitStatus> TryWait();
  /// Blocks until the child exits.
  ExitStatus Wait();
  /// Sends a signal to the child's group (or the child when it has none).
  void Signal(int signal_number);
  /// After the child was reaped: SIGKILL to what is left of its group, so
  /// nothing it started outlives the slot it ran on. Call right after the
  /// reap (the group id cannot be reused while members remain).
  void KillRemainingGroup();

 private:
  Subprocess(pid_t pid, jobserver::UniqueFd pidfd, bool own_group);

  pid_t pid_ = -1;
  jobserver::UniqueFd pidfd_;
  bool own_group_ = true;
  bool reaped_ = false;
};

}  // namespace tierun
