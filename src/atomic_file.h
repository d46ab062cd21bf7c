#pragma once

/// Files that are never seen half-written: content goes to a temporary name
/// in the same directory and is renamed over the final name, so a runner
/// killed at any moment leaves the old file or the new one, never a partial
/// one (DESIGN.md section 4.5). That holds for a killed process without any
/// flush. Surviving a power loss or kernel crash as well needs an fsync
/// before the rename, which costs a disk round trip per file: `tierun run
/// --fsync` turns it on (SetSyncWrites) for users who need that.

#include <string>
#include <string_view>

#include "jobserver/error.h"

namespace tierun {

/// Creates `path` and its missing parents (mkdir -p), mode 0755.
jobserver::Status MakeDirectories(const std::string& path);

/// Whether WriteFileAtomically() fsyncs before renaming: one process-wide
/// choice, made once from the command line before anything is written.
void SetSyncWrites(bool sync);

/// Writes `content` to `path` atomically (temporary file, fsync when asked,
/// rename). Creates the parent directories first.
/// Removes the temporaries WriteFileAtomically() left in `dir` when its
/// process was killed mid-write (<name>.tmp.<pid>.<n>, that pid no longer
/// running): they would otherwise stay for good, since the next writer's
/// temporary has another name. A live writer's temporary is left alone.
void RemoveStaleTemporaries(const std::string& dir);

jobserver::Status WriteFileAtomically(const std::string& path, std::string_view content);

/// Appends `line` (which must end in '\n') with one write() on an O_APPEND
/// descriptor, so concurrent appenders never interleave within a line.
jobserver::Status AppendLine(const std::string& path, std::string_view line);
/// The same on an fd the caller opened with O_APPEND; `path` names it in errors.
jobserver::Status AppendLine(int fd, const std::string& path, std::string_view line);

/// Reads a whole file; kInvalid with the path and reason when it cannot.
jobserver::Result<std::string> ReadWholeFile(const std::string& path);

}  // namespace tierun
