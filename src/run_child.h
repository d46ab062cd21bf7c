#pragma once

/// Starts a command and supervises it to the end (see supervise_posix.h),
/// turning a failure to start into the shell's exit codes: 127 when the
/// program does not exist, 126 when it cannot be executed.

#include <string>

#include "src/containment_posix.h"
#include "src/signals_posix.h"
#include "src/subprocess_posix.h"
#include "src/supervise_posix.h"

namespace tierun {

/// Returns the exit code tierun should exit with. `who` prefixes messages
/// ("tierun exec").
int RunChild(const std::string& who, const SpawnOptions& spawn, ScopedSignalFd& signals,
             SuperviseOptions supervise);

/// The same, with CMD in a box of `containment` (containment_posix.h): what
/// CMD leaves running when it ends, detached or not, is killed before this
/// returns, so before the slot CMD ran on goes back. Says on stderr when it
/// had to.
int RunContainedChild(const std::string& who, SpawnOptions spawn, ScopedSignalFd& signals,
                      SuperviseOptions supervise, Containment& containment);

/// Prints "tierun: warning: MESSAGE" on stderr.
void Warn(const std::string& message);

}  // namespace tierun
