#include "jobserver/error.h"

#include <errno.h>
#include <string.h>

namespace jobserver {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNoJobserver:
      return "no jobserver";
    case ErrorKind::kUnusable:
      return "unusable";
    case ErrorKind::kInvalid:
      return "invalid";
    case ErrorKind::kSystem:
      return "system";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kCancelled:
      return "cancelled";
    case ErrorKind::kPoolGone:
      return "pool gone";
  }
  return "unknown";
}

Error SystemError(const std::string& what) {
  const int saved_errno = errno;
  return Error{ErrorKind::kSystem, what + ": " + strerror(saved_errno)};
}

}  // namespace jobserver
