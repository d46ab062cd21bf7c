#pragma once

/// A process that ends a cgroup when the tierun that made it dies.
///
/// A cgroup outlives the process that made it, and so does everything in it:
/// a SIGKILLed tierun would leave its agents' detached children running, on
/// slots nobody accounts for any more. The guard is a small process forked
/// when the cgroup is made. It sits in read() on a pipe whose only write end
/// its owner holds (close-on-exec, so no agent inherits it); when the owner
/// ends, however it ends, the read returns end-of-file and the guard kills
/// the cgroup (`cgroup.kill`), waits until it is empty and removes it. An
/// owner that ends normally dismisses the guard first (one byte), and the
/// guard leaves the cgroup alone.
///
/// The guard is in a session of its own (a signal to its owner's process
/// group does not reach it), keeps no fd but the pipe and the cgroup's, and
/// makes only system calls after the fork. Should it be killed too (kill -9
/// of both, the OOM killer), the next session of the same experiment still
/// finds the cgroup (containment_posix.h, EndLeftovers).

#include <sys/types.h>

#include "jobserver/error.h"
#include "jobserver/unique_fd.h"
#include "src/cgroup_posix.h"

namespace tierun {

class CgroupGuard {
 public:
  /// Forks the guard of `cgroup`, whose parent directory is `parent_fd` and
  /// whose name there is `name`. kSystem when pipe2() or fork() fails.
  static jobserver::Result<CgroupGuard> Start(const Cgroup& cgroup, int parent_fd,
                                              const std::string& name);
  CgroupGuard(CgroupGuard&& other) noexcept;
  CgroupGuard& operator=(CgroupGuard&&) = delete;
  /// Dismisses the guard and reaps it: the owner has ended the cgroup itself.
  ~CgroupGuard();

  pid_t pid() const { return pid_; }

 private:
  CgroupGuard(pid_t pid, jobserver::UniqueFd owner_end);

  pid_t pid_ = -1;
  jobserver::UniqueFd owner_end_;
};

}  // namespace tierun
