#pragma once

/// Helpers shared by the fuzz targets: turning libFuzzer's bytes into the
/// text a parser takes, and failing loudly when a documented contract breaks.
///
/// A target only calls the parser and, on an error, reads its message, so
/// the error path (string building included) runs under the sanitizers too.
/// Nothing here does I/O or keeps state between inputs: libFuzzer runs every
/// input in one process, and a crash must be reproducible from its input alone.

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <string>
#include <string_view>
#include <vector>

#include "jobserver/error.h"

namespace tierun::fuzz {

/// A broken contract: libFuzzer records the input as a crash.
[[noreturn]] inline void Fail(const char* what) {
  fprintf(stderr, "fuzz contract broken: %s\n", what);
  abort();
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Splits at '\n'; the last line need not end with one.
inline std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

/// Reads every byte of an error's message, so a dangling or overrun string
/// is caught by AddressSanitizer here rather than in a caller's log line.
inline void Touch(const jobserver::Error& error) {
  volatile size_t sum = static_cast<size_t>(error.kind);
  for (char c : error.message) sum = sum + static_cast<unsigned char>(c);
  // Every error names what went wrong, in a short exact message.
  if (error.message.empty()) Fail("an error without a message");
}

}  // namespace tierun::fuzz
