#include "src/exit_status.h"

#include <string.h>
#include <sys/wait.h>

namespace tierun {

ExitStatus ExitStatus::FromWaitStatus(int status) {
  if (WIFSIGNALED(status)) return Signaled(WTERMSIG(status));
  return Exited(WEXITSTATUS(status));
}

std::string ExitStatus::Describe() const {
  if (exited()) return "exited with status " + std::to_string(code_);
  return "killed by signal " + std::to_string(signal_) + " (" + strsignal(signal_) + ")";
}

}  // namespace tierun
