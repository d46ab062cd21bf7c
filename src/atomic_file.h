#pragma once

/// Files that are never seen half-written: content goes to a temporary name
/// in the same directory and is renamed over the final name, so a runner
/// killed at any moment leaves the old file or the new one, never a partial
/// one (DESIGN.md section 4.5). That holds for a killed process without any
/// flush. Surviving a power loss or kernel crash as well needs an fsync
/// before the rename, which costs a disk round trip per file: `tierun run
/// --fsync` turns it on (SetSyncWrites) for users who need that.

#include <sys/types.h>

#include <string>
#include <string_view>

#include "jobserver/error.h"
#include "jobserver/unique_fd.h"

namespace tierun {

/// Confines this process's writes below `dir` (the experiment directory).
/// From now on, a path below `dir` that the functions here create, open,
/// rename or remove is resolved from a descriptor of `dir`, with
/// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): no symlink on the way is
/// followed, nor one at the name itself. Agents write in the results tree,
/// and one that plants a symlink at a tier, subtest or run directory, or at a
/// file tierun writes, cannot redirect a write outside it (or within it): the
/// write fails and says so. `dir` itself may be reached through symlinks
/// (results/ on another disk); paths elsewhere are opened as given. One
/// process-wide choice, like SetSyncWrites(), made before any thread starts;
/// a later call replaces it, and an empty `dir` lifts it.
jobserver::Status ConfineWritesBelow(const std::string& dir);

/// Opens the directory `dir` (O_RDONLY | O_DIRECTORY), confined as above.
jobserver::Result<jobserver::UniqueFd> OpenDirectory(const std::string& dir);

/// Creates `path` and its missing parents (mkdir -p), mode 0755.
jobserver::Status MakeDirectories(const std::string& path);
/// The same, and opens `path` as OpenDirectory() does.
jobserver::Result<jobserver::UniqueFd> MakeAndOpenDirectory(const std::string& path);

/// open(2) of `path` with `flags` (O_CLOEXEC and O_NOFOLLOW added), confined
/// as above. The error names `path`.
jobserver::Result<jobserver::UniqueFd> OpenFile(const std::string& path, int flags,
                                                mode_t mode = 0644);

/// Creates `name` in the directory `dir_fd` as a new, empty regular file open
/// for writing. Whatever was at the name (an earlier file, a symlink, a FIFO
/// that would block the open) is removed first, never followed or opened.
/// `path` names the file in errors.
jobserver::Result<jobserver::UniqueFd> CreateNewFileAt(int dir_fd, const std::string& name,
                                                       const std::string& path);

/// Renames `path` to `new_name` within its directory, confined as above.
jobserver::Status RenameWithinDirectory(const std::string& path, const std::string& new_name);

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

namespace internal {
/// What the confinement does where openat2() is missing (before Linux 5.6,
/// or refused by a seccomp filter): opens `relative` from `root_fd` one
/// component at a time with O_NOFOLLOW, refusing ".." (EXDEV) and every
/// symlink (ELOOP, or ENOTDIR on the way). Exposed for its test.
int OpenBeneathByWalk(int root_fd, const std::string& relative, int flags, mode_t mode);
}  // namespace internal

/// Reads a whole file; kInvalid with the path and reason when it cannot.
jobserver::Result<std::string> ReadWholeFile(const std::string& path);
/// Reads the rest of the open file `fd`; `path` names it in errors.
jobserver::Result<std::string> ReadWholeFile(int fd, const std::string& path);

}  // namespace tierun
