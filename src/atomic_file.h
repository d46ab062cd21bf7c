#pragma once

/// Files that are never seen half-written: content goes to a temporary name in
/// the same directory and is renamed over the final name, so a runner killed at
/// any moment leaves the old file or the new one, never a partial one
/// (docs/design.md section 4.7). That holds for a killed process without any
/// flush. Surviving a power loss or kernel crash as well needs an fsync before
/// the rename, which costs a disk round trip per file: `tierun run --fsync`
/// turns it on (SetSyncWrites) for users who need that.

#include <sys/types.h>

#include <optional>
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

/// When the path given to ConfineWritesBelow() no longer leads to the
/// directory it opened (an agent moved it away and put a symlink to
/// somewhere else at its name): where that directory is now
/// (/proc/self/fd), which is where every write went. nullopt while the path
/// still leads to it, or when nothing is confined.
std::optional<std::string> ConfinementMoved();

/// Whether something (a symlink included) is at `path`, confined as above.
/// A missing file or directory on the way is false; other failures are
/// errors.
jobserver::Result<bool> PathExists(const std::string& path);

/// Opens the directory `dir` (O_RDONLY | O_DIRECTORY), confined as above.
jobserver::Result<jobserver::UniqueFd> OpenDirectory(const std::string& dir);

/// Creates `path` and its missing parents (mkdir -p), mode 0755.
jobserver::Status MakeDirectories(const std::string& path);
/// Whether a directory asked for most likely exists: it decides which system
/// call is tried first (a run directory is made once per run, and written
/// in several times).
enum class LikelyDirectory { kExists, kNew };
/// The same, and opens `path` as OpenDirectory() does.
jobserver::Result<jobserver::UniqueFd> MakeAndOpenDirectory(
    const std::string& path, LikelyDirectory likely = LikelyDirectory::kExists);

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

/// A file to write later (as `tierun run --junit FILE` does at the end of a
/// session) in a directory opened now: whatever is put at the directory's
/// path in between (a symlink to somewhere else) does not move the write.
struct HeldPath {
  jobserver::UniqueFd dir;  ///< The parent directory of `path`.
  std::string path;
};
/// Creates the missing parent directories of `path` and opens the last one.
jobserver::Result<HeldPath> HoldParentDirectory(const std::string& path);

/// WriteFileAtomically() in pieces, for a file not worth building in memory
/// first (junit.xml has a line per run): Append() as often as needed, then
/// Commit(). Destroyed uncommitted, or after an error, it removes its
/// temporary and the old file stays as it was.
class AtomicFileWriter {
 public:
  /// Creates the temporary (and the missing parent directories).
  static jobserver::Result<AtomicFileWriter> Create(const std::string& path);
  /// The same in the directory held since HoldParentDirectory().
  static jobserver::Result<AtomicFileWriter> Create(const HeldPath& target);
  AtomicFileWriter(AtomicFileWriter&&) = default;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  ~AtomicFileWriter();

  /// Buffered; the first error is kept and returned by Commit().
  void Append(std::string_view text);
  /// Writes what is buffered, fsyncs when asked (SetSyncWrites), renames.
  jobserver::Status Commit();

 private:
  AtomicFileWriter(std::string path, jobserver::UniqueFd dir, std::string temporary_name,
                   jobserver::UniqueFd fd);
  static jobserver::Result<AtomicFileWriter> Create(const std::string& path,
                                                    jobserver::UniqueFd dir);
  void Flush();

  std::string path_;
  jobserver::UniqueFd dir_;  ///< The directory: the rename happens in it.
  std::string temporary_name_;
  jobserver::UniqueFd fd_;  ///< Empty once committed.
  std::string buffer_;
  jobserver::Status status_;  ///< The first error, if any.
};

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

/// Every file tierun reads is read whole, so every read has a bound: a file
/// larger than it (an agent's 3 GB result.json, a sparse plan.json) is
/// refused, from its size before a byte is read, and never held in memory.
/// The bounds, each where its file is read: an agent's result.json or
/// judgment.json 1 MiB (agent_process.h), a plan file 4 MiB (plan.h), a run's
/// report.json 1 MiB (reports.cc), and this default for the rest: plan.json,
/// which holds the normalised plan (at most 8 MiB as compact JSON, plan.h)
/// indented, so a few times that.
inline constexpr size_t kDefaultReadLimit = size_t{64} << 20;

/// "1 MiB", "64 MiB", "1536 KiB", "100 bytes": a bound, for messages.
std::string DescribeBytes(size_t bytes);

/// Reads a whole file of at most `max_bytes`; kInvalid with the path and
/// reason when it cannot, or when it is larger: "<path>: 3221225472 bytes,
/// more than the 1 MiB tierun reads".
jobserver::Result<std::string> ReadWholeFile(const std::string& path,
                                             size_t max_bytes = kDefaultReadLimit);
/// Reads the rest of the open file `fd`, at most `max_bytes` of it (the
/// size fstat() gives is checked first; a file that grows while it is read,
/// or that fstat() cannot size, is cut off at `max_bytes` + 1 and refused
/// the same way); `path` names it in errors.
jobserver::Result<std::string> ReadWholeFile(int fd, const std::string& path,
                                             size_t max_bytes = kDefaultReadLimit);

}  // namespace tierun
