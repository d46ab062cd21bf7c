#include "src/signals_posix.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include <utility>

namespace tierun {

using jobserver::Result;
using jobserver::UniqueFd;

Result<ScopedSignalFd> ScopedSignalFd::BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, signal_number);
  sigset_t old_mask;
  if (sigprocmask(SIG_BLOCK, &set, &old_mask) == -1) return jobserver::SystemError("sigprocmask");
  UniqueFd fd(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) {
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    return jobserver::SystemError("signalfd");
  }
  return ScopedSignalFd(std::move(fd), old_mask);
}

ScopedSignalFd::ScopedSignalFd(UniqueFd fd, sigset_t old_mask)
    : fd_(std::move(fd)), old_mask_(old_mask) {}

ScopedSignalFd::ScopedSignalFd(ScopedSignalFd&& other) noexcept
    : fd_(std::move(other.fd_)),
      old_mask_(other.old_mask_),
      restore_(std::exchange(other.restore_, false)) {}

ScopedSignalFd::~ScopedSignalFd() {
  if (restore_) sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
}

int ScopedSignalFd::Read() {
  signalfd_siginfo info;
  const ssize_t n = jobserver::RetryOnEintr([&] { return read(fd_.get(), &info, sizeof info); });
  return n == sizeof info ? static_cast<int>(info.ssi_signo) : 0;
}

}  // namespace tierun
