#include "src/supervise_posix.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <optional>
#include <utility>

namespace tierun {
namespace {

using Clock = std::chrono::steady_clock;

int PollTimeoutMs(std::optional<Clock::time_point> deadline) {
  if (!deadline) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
}

}  // namespace

Outcome Supervise(Subprocess& child, ScopedSignalFd& signals, SuperviseOptions options) {
  Outcome outcome;
  std::optional<Clock::time_point> kill_at;
  int extra_fd = options.extra_fd;
  while (true) {
    if (std::optional<ExitStatus> status = child.TryWait()) {
      outcome.status = *status;
      return outcome;
    }
    struct pollfd fds[3] = {
        {child.pidfd(), POLLIN, 0}, {signals.fd(), POLLIN, 0}, {extra_fd, POLLIN, 0}};
    const int ready = poll(fds, extra_fd >= 0 ? 3 : 2, PollTimeoutMs(kill_at));
    if (ready == -1 && errno != EINTR) {
      child.Signal(SIGKILL);  // Cannot wait properly: make sure it ends.
      outcome.status = child.Wait();
      return outcome;
    }
    if (kill_at && Clock::now() >= *kill_at) {
      if (options.on_grace_end) {
        std::exchange(options.on_grace_end, nullptr)();
        kill_at = Clock::now() + options.after_grace;
        continue;
      }
      child.Signal(SIGKILL);
      kill_at.reset();
    }
    if (fds[1].revents & POLLIN) {
      while (const int signal_number = signals.Read()) {
        if (outcome.interrupted_by == 0) {
          outcome.interrupted_by = signal_number;
          child.Signal(signal_number);
          kill_at = Clock::now() + options.grace;
        } else {
          if (options.on_grace_end) std::exchange(options.on_grace_end, nullptr)();
          child.Signal(SIGKILL);  // A second signal skips the grace period.
        }
      }
    }
    if (extra_fd >= 0 && (fds[2].revents & (POLLIN | POLLHUP))) {
      extra_fd = -1;
      if (options.on_ready) options.on_ready();
    }
  }
}

}  // namespace tierun
