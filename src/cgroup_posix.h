#pragma once

/// cgroup v2 directories tierun creates to hold a process tree, so that a
/// slot covers everything its agent started, however it detached.
///
/// How it works. Every process belongs to exactly one cgroup of the v2
/// hierarchy, and so does every process it forks, whatever it does after:
/// setsid(), double forks and a reparenting to init change nothing. tierun
/// makes a cgroup below its own (`<own cgroup>/tierun-…`), starts each agent
/// directly in a child of it (clone3 with CLONE_INTO_CGROUP), and when the
/// agent ends writes "1" to that child's `cgroup.kill`, which SIGKILLs every
/// process in it, and waits until its `cgroup.events` says `populated 0`.
/// Only then does the slot go back.
///
/// Where: the v2 hierarchy is found in /proc/self/mountinfo (type cgroup2;
/// /sys/fs/cgroup on most machines, /sys/fs/cgroup/unified on a hybrid
/// layout), our place in it in /proc/self/cgroup ("0::/path"). Creating a
/// cgroup there needs write access to our own cgroup: root, or a delegated
/// subtree (systemd's Delegate=yes, a container's own hierarchy). Where it is
/// refused, FindOwnCgroup() or Cgroup::Create() says why, and tierun falls
/// back to a child subreaper (see containment_posix.h).
///
/// No controller is enabled: `cgroup.kill` (Linux 5.14) and `cgroup.events`
/// are core files, so the "no internal processes" rule never applies and a
/// cgroup with processes of its own (ours) may have children.

#include <chrono>
#include <optional>
#include <string>

#include "jobserver/error.h"
#include "jobserver/unique_fd.h"

namespace tierun {

/// The cgroup v2 directory this process belongs to, as an absolute path
/// (mount point + path). kUnusable when there is no v2 hierarchy (a v1-only
/// machine) or /proc/self/cgroup names none.
jobserver::Result<std::string> FindOwnCgroup();

/// Parses /proc/self/mountinfo text: the mount point of the cgroup2
/// hierarchy and the path of its root within the hierarchy ("/" unless a
/// container mounted a subtree); nullopt when there is none.
struct CgroupMount {
  std::string mount_point;
  std::string root;
};
std::optional<CgroupMount> ParseCgroupMount(const std::string& mountinfo);
/// The "0::PATH" line of /proc/self/cgroup text; nullopt when absent.
std::optional<std::string> ParseUnifiedCgroupPath(const std::string& proc_cgroup);

/// One cgroup directory, held open. Moving it only moves the handle; the
/// directory stays until Remove().
class Cgroup {
 public:
  /// Creates `parent/name` (mkdir) and opens it. kUnusable with the errno's
  /// text when the directory cannot be made (EACCES, EROFS: no delegation).
  static jobserver::Result<Cgroup> Create(const std::string& parent, const std::string& name);
  /// Opens an existing cgroup (one a killed session left).
  static jobserver::Result<Cgroup> Open(const std::string& path);

  Cgroup(Cgroup&&) noexcept = default;
  Cgroup& operator=(Cgroup&&) noexcept = default;

  const std::string& path() const { return path_; }
  /// The directory, for clone3's CLONE_INTO_CGROUP.
  int fd() const { return dir_.get(); }
  /// `cgroup.events`, which poll() reports (POLLPRI) when `populated`
  /// changes.
  int events_fd() const { return events_.get(); }

  /// True while a process is in this cgroup or one below it.
  bool Populated() const;
  /// SIGKILLs every process in it and below (cgroup.kill; before Linux 5.14,
  /// each pid of cgroup.procs in turn until none is left).
  void Kill() const;
  /// Kill(), then waits until nothing is left or `deadline` passes; true
  /// when empty. A process stuck in the kernel (D state) is the only reason
  /// to see false.
  bool KillAndWait(std::chrono::steady_clock::time_point deadline) const;
  /// SIGKILLs every process in the cgroups below this one, not in this one.
  void KillChildren() const;
  /// True while a cgroup below this one exists.
  bool HasChildren() const;
  /// Removes the directory (and its children, emptied first); false when a
  /// process is still in it.
  bool Remove();

 private:
  Cgroup(std::string path, jobserver::UniqueFd dir, jobserver::UniqueFd events);

  std::string path_;
  jobserver::UniqueFd dir_;
  jobserver::UniqueFd events_;
};

}  // namespace tierun
