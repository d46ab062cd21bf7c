#pragma once

/// ScopedClosedStandardFds: fds 0, 1 and 2 closed for the lifetime of the
/// object, as in a process started with `<&- >&- 2>&-`, and put back after.
/// Nothing may be printed meanwhile (gtest prints a failed EXPECT at once):
/// record what to check in the scope and check it after.

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <vector>

namespace tierun::test {

class ScopedClosedStandardFds {
 public:
  ScopedClosedStandardFds() {
    fflush(stdout);
    fflush(stderr);
    for (int fd = 0; fd < 3; ++fd) {
      saved_[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 10);
      close(fd);
    }
  }
  ~ScopedClosedStandardFds() {
    for (int fd = 0; fd < 3; ++fd) {
      if (saved_[fd] < 0) continue;
      dup2(saved_[fd], fd);
      close(saved_[fd]);
    }
  }
  ScopedClosedStandardFds(const ScopedClosedStandardFds&) = delete;
  ScopedClosedStandardFds& operator=(const ScopedClosedStandardFds&) = delete;

  /// The standard fds that are open now (something landed there).
  static std::vector<int> OpenOnes() {
    std::vector<int> open_fds;
    for (int fd = 0; fd < 3; ++fd) {
      if (fcntl(fd, F_GETFD) != -1) open_fds.push_back(fd);
    }
    return open_fds;
  }

 private:
  int saved_[3] = {-1, -1, -1};
};

}  // namespace tierun::test
