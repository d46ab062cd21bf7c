#pragma once

/// ScopedPipe: a real anonymous pipe, both ends owned. Tests use it as a
/// jobserver pool made by hand (tokens written into it, fds handed to the
/// library through an Auth) and as a channel to synchronise with children.
///
/// The byte helpers never change an fd's status flags (the tests check that
/// the library leaves them alone): ReadAvailable() asks FIONREAD how much is
/// there and reads exactly that, so it cannot block.

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "jobserver/unique_fd.h"

namespace tierun::test {

class ScopedPipe {
 public:
  /// `flags` for pipe2(); O_CLOEXEC by default, O_NONBLOCK for a pipe as make
  /// 4.3 leaves it, 0 for one a child may inherit.
  explicit ScopedPipe(int flags = O_CLOEXEC) {
    int fds[2];
    if (pipe2(fds, flags) == 0) {
      read_end_.reset(fds[0]);
      write_end_.reset(fds[1]);
    }
  }

  bool ok() const { return read_end_.valid() && write_end_.valid(); }
  int read_fd() const { return read_end_.get(); }
  int write_fd() const { return write_end_.get(); }
  void CloseRead() { read_end_.reset(); }
  void CloseWrite() { write_end_.reset(); }

 private:
  jobserver::UniqueFd read_end_;
  jobserver::UniqueFd write_end_;
};

/// Writes all of `bytes`; false on any error or short write.
inline bool WriteBytes(int fd, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = jobserver::RetryOnEintr(
        [&] { return write(fd, bytes.data() + done, bytes.size() - done); });
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

/// Bytes waiting in a pipe or FIFO (FIONREAD); -1 on error.
inline int BytesAvailable(int fd) {
  int count = 0;
  return ioctl(fd, FIONREAD, &count) == 0 ? count : -1;
}

/// Reads every byte waiting in a pipe or FIFO, without blocking and without
/// touching O_NONBLOCK.
inline std::string ReadAvailable(int fd) {
  const int count = BytesAvailable(fd);
  if (count <= 0) return {};
  std::string bytes(static_cast<size_t>(count), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        jobserver::RetryOnEintr([&] { return read(fd, bytes.data() + done, bytes.size() - done); });
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

/// fcntl(F_GETFL), the open file description's status flags.
inline int StatusFlags(int fd) { return fcntl(fd, F_GETFL); }

}  // namespace tierun::test
