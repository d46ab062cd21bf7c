#pragma once

/// Signals as events: the listed signals are blocked and read from a
/// signalfd in the event loop, so they never interrupt a system call halfway
/// and never run code in a handler. The old mask comes back on destruction;
/// children get an empty mask (Subprocess resets it before exec).

#include <signal.h>

#include <initializer_list>

#include "jobserver/error.h"
#include "jobserver/unique_fd.h"

namespace tierun {

class ScopedSignalFd {
 public:
  /// The signals tierun treats as "stop": SIGINT, SIGTERM, SIGHUP, SIGQUIT.
  static jobserver::Result<ScopedSignalFd> BlockTerminationSignals();

  ScopedSignalFd(ScopedSignalFd&& other) noexcept;
  ScopedSignalFd& operator=(ScopedSignalFd&&) = delete;
  ~ScopedSignalFd();

  int fd() const { return fd_.get(); }
  /// The next pending signal's number, or 0 when none is pending.
  int Read();

 private:
  ScopedSignalFd(jobserver::UniqueFd fd, sigset_t old_mask);
  jobserver::UniqueFd fd_;
  sigset_t old_mask_;
  bool restore_ = true;
};

}  // namespace tierun
