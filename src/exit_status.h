#pragma once

/// How a child process ended, as a value: "exited with status 3" or "killed
/// by signal 9" (after folly's ProcessReturnCode and reproc).

#include <sys/types.h>

#include <string>

namespace tierun {

class ExitStatus {
 public:
  /// From a waitpid() status word.
  static ExitStatus FromWaitStatus(int status);
  static ExitStatus Exited(int code) { return ExitStatus(code, 0); }
  static ExitStatus Signaled(int signal_number) { return ExitStatus(0, signal_number); }

  bool exited() const { return signal_ == 0; }
  bool signaled() const { return signal_ != 0; }
  int code() const { return code_; }
  int signal_number() const { return signal_; }

  /// The status a shell would report: the code, or 128 + signal number.
  int ShellCode() const { return signaled() ? 128 + signal_ : code_; }
  /// "exited with status 3", "killed by signal 9 (Killed)".
  std::string Describe() const;

 private:
  ExitStatus(int code, int signal_number) : code_(code), signal_(signal_number) {}
  int code_;
  int signal_;
};

}  // namespace tierun
