#pragma once

/// Files that are never seen half-written: content goes to a temporary name
/// in the same directory, is flushed to disk, and is renamed over the final
/// name, so a runner killed at any moment leaves the old file or the new
/// one, never a partial one (DESIGN.md section 4.5).

#include <string>
#include <string_view>

#include "jobserver/error.h"

namespace tierun {

/// Creates `path` and its missing parents (mkdir -p), mode 0755.
jobserver::Status MakeDirectories(const std::string& path);

/// Writes `content` to `path` atomically (temporary file, fsync, rename).
/// Creates the parent directories first.
jobserver::Status WriteFileAtomically(const std::string& path, std::string_view content);

/// Appends `line` (which must end in '\n') with one write() on an O_APPEND
/// descriptor, so concurrent appenders never interleave within a line.
jobserver::Status AppendLine(const std::string& path, std::string_view line);

/// Reads a whole file; kInvalid with the path and reason when it cannot.
jobserver::Result<std::string> ReadWholeFile(const std::string& path);

}  // namespace tierun
