#include "src/run_child.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "src/commands.h"

namespace tierun {

void Warn(const std::string& message) { fprintf(stderr, "tierun: warning: %s\n", message.c_str()); }

int RunChild(const std::string& who, const SpawnOptions& spawn, ScopedSignalFd& signals,
             SuperviseOptions supervise) {
  jobserver::Result<Subprocess> child = Subprocess::Spawn(spawn);
  if (!child) {
    fprintf(stderr, "%s: %s\n", who.c_str(), child.error().message.c_str());
    const bool missing = child.error().message.ends_with(strerror(ENOENT));
    return missing ? kExitNotFound : kExitCannotExecute;
  }
  return Supervise(*child, signals, std::move(supervise)).ExitCode();
}

namespace {

/// How long `tierun exec`s below CMD get, once their commands were killed,
/// to give their tokens back and exit before the rest is killed.
constexpr std::chrono::milliseconds kExecsExit{2000};

}  // namespace

int RunContainedChild(const std::string& who, SpawnOptions spawn, ScopedSignalFd& signals,
                      SuperviseOptions supervise, Containment& containment) {
  const int box = containment.AcquireBox();
  spawn.cgroup_fd = containment.BoxFd(box);
  const int code = RunChild(who, spawn, signals, std::move(supervise));
  // A process stuck in the kernel is the only reason to wait this long.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  if (!containment.EndBox(box, kExecsExit, deadline)) {
    fprintf(stderr, "%s: what CMD left running could not be ended within 10 s\n", who.c_str());
  }
  containment.EndOrphans([](pid_t) { return false; });
  containment.ReleaseBox(box);
  return code;
}

}  // namespace tierun
