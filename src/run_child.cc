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

}  // namespace tierun
