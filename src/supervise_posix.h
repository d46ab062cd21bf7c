#pragma once

/// Waiting for a child while staying responsive: one poll loop over the
/// child's pidfd, the signalfd and, optionally, one more fd with a callback.
///
/// The first SIGINT/SIGTERM/SIGHUP/SIGQUIT is forwarded to the child's
/// process group; if the child is still running when the grace period ends,
/// the group gets SIGKILL. A second signal skips the grace period. The loop
/// returns only once the child has been reaped, so whatever slot it ran on
/// can be given back.

#include <chrono>
#include <functional>

#include "src/exit_status.h"
#include "src/signals_posix.h"
#include "src/subprocess_posix.h"

namespace tierun {

struct SuperviseOptions {
  std::chrono::milliseconds grace{std::chrono::seconds(10)};
  /// Watched while the child runs; `on_ready` runs once when it is readable.
  int extra_fd = -1;
  std::function<void()> on_ready;
  /// Runs once when the grace period ends, before the SIGKILL, which then
  /// waits `after_grace` more: `tierun serve` kills its execs' commands
  /// first, so the execs see them end and give their tokens back.
  std::function<void()> on_grace_end = {};
  std::chrono::milliseconds after_grace{0};
};

struct Outcome {
  ExitStatus status = ExitStatus::Exited(0);
  int interrupted_by = 0;  ///< The first termination signal we received, or 0.

  /// 128 + signal when we were interrupted, else the child's shell code.
  int ExitCode() const { return interrupted_by != 0 ? 128 + interrupted_by : status.ShellCode(); }
};

Outcome Supervise(Subprocess& child, ScopedSignalFd& signals, SuperviseOptions options);

}  // namespace tierun
