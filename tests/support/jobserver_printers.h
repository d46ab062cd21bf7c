#pragma once

/// GoogleTest printers for the jobserver library's enums, so that a failed
/// EXPECT_EQ says "unusable" instead of "4-byte object <01-00 00-00>".

#include <ostream>

#include "jobserver/error.h"
#include "jobserver/makeflags.h"
#include "jobserver/server.h"

namespace jobserver {

inline void PrintTo(ErrorKind kind, std::ostream* os) { *os << ErrorKindName(kind); }

inline void PrintTo(AuthStyle style, std::ostream* os) {
  switch (style) {
    case AuthStyle::kNone:
      *os << "kNone";
      return;
    case AuthStyle::kPipe:
      *os << "kPipe";
      return;
    case AuthStyle::kFifo:
      *os << "kFifo";
      return;
  }
  *os << "AuthStyle(" << static_cast<int>(style) << ")";
}

inline void PrintTo(ServerStyle style, std::ostream* os) { *os << ServerStyleName(style); }

}  // namespace jobserver
