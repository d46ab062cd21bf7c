#include "standard_fds_posix.h"

#include <errno.h>
#include <fcntl.h>

#include <utility>

namespace jobserver::internal {

const char* StandardFdName(int fd) {
  switch (fd) {
    case 0:
      return "standard input";
    case 1:
      return "standard output";
    case 2:
      return "standard error";
  }
  return "not a standard fd";
}

UniqueFd AboveStandardFds(UniqueFd fd) {
  if (!fd || !IsStandardFd(fd.get())) return fd;
  UniqueFd moved(fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
  const int saved_errno = errno;
  fd.reset();  // The standard fd is closed again, as the application left it.
  errno = saved_errno;
  return moved;
}

}  // namespace jobserver::internal
