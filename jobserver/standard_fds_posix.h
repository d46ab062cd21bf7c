#pragma once

/// Internal: keeping pool fds off the standard fds 0, 1 and 2.
///
/// A process started with stdin, stdout or stderr closed gets its next pipe or
/// file on that number. A pool fd there is read and written by everything that
/// uses the standard fd: one line printed to stderr became 19 tokens, and a
/// child reading stdin takes tokens. The Server and the Client therefore never
/// keep a pool fd below 3, whatever the application did with its standard fds.

#include "jobserver/unique_fd.h"

namespace jobserver::internal {

/// True for 0, 1 and 2.
inline bool IsStandardFd(int fd) { return fd >= 0 && fd <= 2; }

/// "standard input", "standard output", "standard error" for 0-2.
const char* StandardFdName(int fd);

/// `fd` itself when it is above 2, else a close-on-exec duplicate above 2 (the
/// standard fd is closed again, as the application left it). When that fails,
/// an invalid UniqueFd with errno set.
UniqueFd AboveStandardFds(UniqueFd fd);

}  // namespace jobserver::internal
