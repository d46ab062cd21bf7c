#include "src/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <memory>

#include "jobserver/unique_fd.h"

namespace tierun {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;
using jobserver::RetryOnEintr;
using jobserver::Status;
using jobserver::UniqueFd;

namespace {

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string Base(const std::string& path) { return path.substr(path.rfind('/') + 1); }

Status WriteAll(int fd, std::string_view content, const std::string& path) {
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n =
        RetryOnEintr([&] { return write(fd, content.data() + done, content.size() - done); });
    if (n == -1) return jobserver::SystemError("cannot write " + path);
    done += static_cast<size_t>(n);
  }
  return {};
}

/// The directory ConfineWritesBelow() named, and a descriptor of it.
struct Confinement {
  std::string root;
  UniqueFd fd;
};

Confinement& TheConfinement() {
  static Confinement confinement;
  return confinement;
}

/// `path` relative to the confining directory, when it lies below it; "."
/// for the directory itself, which is reached through the descriptor opened
/// once, never by its path again (an agent may have moved it away and put a
/// symlink to anywhere at its name); empty for other paths.
std::string_view BelowRoot(std::string_view path) {
  const Confinement& confinement = TheConfinement();
  if (!confinement.fd) return {};
  const std::string_view root = confinement.root;
  while (path.size() > root.size() && path.back() == '/') path.remove_suffix(1);
  if (path == root) return ".";
  if (path.size() <= root.size() + 1 || !path.starts_with(root) || path[root.size()] != '/') {
    return {};
  }
  return path.substr(root.size() + 1);
}

}  // namespace

namespace internal {

int OpenBeneathByWalk(int root_fd, const std::string& relative, int flags, mode_t mode) {
  UniqueFd directory;
  int at = root_fd;
  size_t begin = 0;
  for (size_t slash; (slash = relative.find('/', begin)) != std::string::npos; begin = slash + 1) {
    const std::string component = relative.substr(begin, slash - begin);
    if (component == "..") {
      errno = EXDEV;
      return -1;
    }
    if (component.empty() || component == ".") continue;
    directory.reset(RetryOnEintr([&] {
      return openat(at, component.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }));
    if (!directory) return -1;
    at = directory.get();
  }
  const std::string last = relative.substr(begin);
  if (last == "..") {
    errno = EXDEV;
    return -1;
  }
  return RetryOnEintr(
      [&] { return openat(at, last.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode); });
}

}  // namespace internal

namespace {

/// openat2() from `root_fd`, refusing every symlink and every way out; a
/// walk of the components with O_NOFOLLOW where the kernel (before 5.6) or a
/// seccomp filter does not offer openat2().
int OpenBeneath(int root_fd, const std::string& relative, int flags, mode_t mode) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_NOFOLLOW | O_CLOEXEC);
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    // EAGAIN: a concurrent rename elsewhere; the kernel asks us to try again.
    fd = syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof how);
  } while (fd == -1 && (errno == EINTR || errno == EAGAIN));
  if (fd == -1 && (errno == ENOSYS || errno == EPERM)) {
    return internal::OpenBeneathByWalk(root_fd, relative, flags, mode);
  }
  return static_cast<int>(fd);
}

/// open(2) of `path`, confined when it lies below the confining directory;
/// O_NOFOLLOW applies at `path` itself either way unless `follow`.
int OpenConfined(const std::string& path, int flags, mode_t mode, bool follow = false) {
  const std::string_view relative = BelowRoot(path);
  if (!relative.empty()) {
    return OpenBeneath(TheConfinement().fd.get(), std::string(relative), flags, mode);
  }
  const int nofollow = follow ? 0 : O_NOFOLLOW;
  return RetryOnEintr([&] { return open(path.c_str(), flags | nofollow | O_CLOEXEC, mode); });
}

/// An error for `what` failing on `path`, from errno: a refused symlink is
/// named as such, not as "Too many levels of symbolic links".
Error ConfinedError(const std::string& what) {
  if ((errno == ELOOP || errno == EXDEV) && TheConfinement().fd) {
    return Error{ErrorKind::kSystem, what + ": a symlink (or a way out of " +
                                         TheConfinement().root +
                                         ") on the way; tierun follows no symlink in its "
                                         "results directory"};
  }
  return jobserver::SystemError(what);
}

}  // namespace

Status ConfineWritesBelow(const std::string& dir) {
  Confinement& confinement = TheConfinement();
  confinement.fd.reset();
  confinement.root.clear();
  if (dir.empty()) return {};
  UniqueFd fd(RetryOnEintr([&] { return open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC); }));
  if (!fd) return jobserver::SystemError("cannot open directory " + dir);
  confinement.root = dir;
  while (confinement.root.size() > 1 && confinement.root.back() == '/') confinement.root.pop_back();
  confinement.fd = std::move(fd);
  return {};
}

namespace {

/// The confining directory itself, and directories above or beside it, are
/// followed as the user named them.
int OpenDirectoryFd(const std::string& dir) {
  return OpenConfined(dir, O_RDONLY | O_DIRECTORY, 0, /*follow=*/BelowRoot(dir).empty());
}

Error NotADirectory(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode) && !BelowRoot(path).empty()) {
    return Error{ErrorKind::kSystem,
                 path + " is a symlink; tierun follows no symlink in its results directory"};
  }
  return Error{ErrorKind::kSystem, path + " exists and is not a directory"};
}

}  // namespace

std::optional<std::string> ConfinementMoved() {
  const Confinement& confinement = TheConfinement();
  if (!confinement.fd) return std::nullopt;
  struct stat opened;
  struct stat named;
  if (fstat(confinement.fd.get(), &opened) == 0 && stat(confinement.root.c_str(), &named) == 0 &&
      opened.st_dev == named.st_dev && opened.st_ino == named.st_ino) {
    return std::nullopt;
  }
  // Where the directory is now, as the kernel knows it ("... (deleted)"
  // once nothing names it any more).
  char where[PATH_MAX];
  const std::string link = "/proc/self/fd/" + std::to_string(confinement.fd.get());
  const ssize_t n = readlink(link.c_str(), where, sizeof where - 1);
  if (n <= 0) return std::string("an unknown place");
  return std::string(where, static_cast<size_t>(n));
}

Result<bool> PathExists(const std::string& path) {
  // O_PATH | O_NOFOLLOW opens a symlink itself: it exists, as lstat() says.
  UniqueFd fd(OpenConfined(path, O_PATH, 0));
  if (fd) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return ConfinedError("cannot stat " + path);
}

Result<UniqueFd> OpenDirectory(const std::string& dir) {
  UniqueFd fd(OpenDirectoryFd(dir));
  if (!fd) return ConfinedError("cannot open directory " + dir);
  return fd;
}

Result<UniqueFd> MakeAndOpenDirectory(const std::string& path, LikelyDirectory likely) {
  const std::string_view relative = BelowRoot(path);
  if (relative == ".") return OpenDirectory(path);  // The confining directory exists.
  const bool confined = !relative.empty();
  if (likely == LikelyDirectory::kExists || !confined) {
    // Most directories asked for exist already (a tier's, or a run's when
    // its report is written): open first...
    UniqueFd existing(OpenDirectoryFd(path));
    if (existing) return existing;
    if (errno == ENOTDIR) return NotADirectory(path);
    if (errno != ENOENT) return ConfinedError("cannot open directory " + path);
  }
  if (!confined) {
    // ...and above the confining directory, mkdir -p as the user named it.
    const std::string parent = Parent(path);
    if (parent != path) {
      if (Status made = MakeDirectories(parent); !made) return made.error();
    }
    if (mkdir(path.c_str(), 0755) == -1 && errno != EEXIST) {
      return jobserver::SystemError("cannot create directory " + path);
    }
    UniqueFd made(OpenDirectoryFd(path));
    if (!made && errno == ENOTDIR) return NotADirectory(path);
    if (!made) return jobserver::SystemError("cannot open directory " + path);
    return made;
  }
  Result<UniqueFd> parent = MakeAndOpenDirectory(Parent(path));
  if (!parent) return parent.error();
  const std::string name = Base(path);
  if (mkdirat(parent->get(), name.c_str(), 0755) == -1 && errno != EEXIST) {
    return ConfinedError("cannot create directory " + path);
  }
  UniqueFd fd(RetryOnEintr([&] {
    return openat(parent->get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }));
  if (!fd && errno == ENOTDIR) return NotADirectory(path);
  if (!fd) return ConfinedError("cannot open directory " + path);
  return fd;
}

Status MakeDirectories(const std::string& path) {
  if (path.empty()) return {};
  Result<UniqueFd> made = MakeAndOpenDirectory(path);
  if (!made) return made.error();
  return {};
}

Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode) {
  UniqueFd fd(OpenConfined(path, flags, mode));
  if (!fd) return ConfinedError("cannot open " + path);
  return fd;
}

Result<UniqueFd> CreateNewFileAt(int dir_fd, const std::string& name, const std::string& path) {
  // O_EXCL: nothing planted at the name (a symlink above all) is opened.
  const auto create = [&] {
    return RetryOnEintr([&] {
      return openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0644);
    });
  };
  UniqueFd fd(create());
  if (!fd && errno == EEXIST) {
    // An earlier attempt's file, a temporary whose writer was killed and
    // whose pid came round again, or something planted: unlinkat() removes
    // the name itself, never what a symlink points to.
    if (unlinkat(dir_fd, name.c_str(), 0) == -1 && errno != ENOENT) {
      return jobserver::SystemError("cannot replace " + path);
    }
    fd.reset(create());
  }
  if (!fd) return jobserver::SystemError("cannot create " + path);
  return fd;
}

Status RenameWithinDirectory(const std::string& path, const std::string& new_name) {
  Result<UniqueFd> dir = OpenDirectory(Parent(path));
  if (!dir) return dir.error();
  const std::string name = Base(path);
  if (renameat(dir->get(), name.c_str(), dir->get(), new_name.c_str()) == -1) {
    return jobserver::SystemError("cannot rename " + path + " to " + new_name);
  }
  return {};
}

namespace {
std::atomic<bool> sync_writes{false};
}  // namespace

void SetSyncWrites(bool sync) { sync_writes = sync; }

namespace {

/// The pid in "<name>.tmp.<pid>.<n>", or 0.
pid_t TemporaryOwner(std::string_view name) {
  const size_t tmp = name.rfind(".tmp.");
  if (tmp == std::string_view::npos) return 0;
  const std::string_view rest = name.substr(tmp + 5);
  pid_t pid = 0;
  const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (error != std::errc() || end == rest.data() || *end != '.') return 0;
  return pid;
}

}  // namespace

void RemoveStaleTemporaries(const std::string& dir) {
  Result<UniqueFd> fd = OpenDirectory(dir);
  if (!fd) return;
  std::unique_ptr<DIR, int (*)(DIR*)> listing(fdopendir(fd->release()), closedir);
  if (!listing) return;
  while (const dirent* entry = readdir(listing.get())) {
    const pid_t owner = TemporaryOwner(entry->d_name);
    if (owner <= 0 || owner == getpid()) continue;
    if (kill(owner, 0) == -1 && errno == ESRCH) unlinkat(dirfd(listing.get()), entry->d_name, 0);
  }
}

Result<HeldPath> HoldParentDirectory(const std::string& path) {
  Result<UniqueFd> dir = MakeAndOpenDirectory(Parent(path));
  if (!dir) return dir.error();
  return HeldPath{std::move(*dir), path};
}

Result<AtomicFileWriter> AtomicFileWriter::Create(const std::string& path) {
  // The temporary is created, and renamed, in a descriptor of the directory:
  // once it is open, no symlink swapped in on the way can move the rename.
  Result<HeldPath> held = HoldParentDirectory(path);
  if (!held) return held.error();
  return Create(std::move(*held));
}

Result<AtomicFileWriter> AtomicFileWriter::Create(const HeldPath& target) {
  UniqueFd dir(RetryOnEintr([&] { return fcntl(target.dir.get(), F_DUPFD_CLOEXEC, 0); }));
  if (!dir) return jobserver::SystemError("cannot duplicate the descriptor of " + target.path);
  return Create(target.path, std::move(dir));
}

Result<AtomicFileWriter> AtomicFileWriter::Create(const std::string& path, UniqueFd dir) {
  // Runners sharing a results directory rewrite the same reports at once:
  // the pid keeps two processes, and the counter two writers in one process,
  // from sharing a temporary.
  static std::atomic<unsigned> serial{0};
  std::string temporary_name =
      Base(path) + ".tmp." + std::to_string(getpid()) + "." + std::to_string(serial++);
  Result<UniqueFd> fd =
      CreateNewFileAt(dir.get(), temporary_name, Parent(path) + "/" + temporary_name);
  if (!fd) return fd.error();
  return AtomicFileWriter(path, std::move(dir), std::move(temporary_name), std::move(*fd));
}

AtomicFileWriter::AtomicFileWriter(std::string path, UniqueFd dir, std::string temporary_name,
                                   UniqueFd fd)
    : path_(std::move(path)),
      dir_(std::move(dir)),
      temporary_name_(std::move(temporary_name)),
      fd_(std::move(fd)) {}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_) unlinkat(dir_.get(), temporary_name_.c_str(), 0);
}

void AtomicFileWriter::Append(std::string_view text) {
  // Small pieces are gathered into fewer writes; a big one (a whole report)
  // is written as it is, not copied first.
  constexpr size_t kBufferSize = 1 << 16;
  if (buffer_.size() + text.size() < kBufferSize) {
    buffer_ += text;
    return;
  }
  Flush();
  if (status_) status_ = WriteAll(fd_.get(), text, Parent(path_) + "/" + temporary_name_);
}

void AtomicFileWriter::Flush() {
  if (status_ && !buffer_.empty()) {
    status_ = WriteAll(fd_.get(), buffer_, Parent(path_) + "/" + temporary_name_);
  }
  buffer_.clear();
}

Status AtomicFileWriter::Commit() {
  Flush();
  const std::string temporary = Parent(path_) + "/" + temporary_name_;
  if (status_ && sync_writes && fsync(fd_.get()) == -1) {
    status_ = jobserver::SystemError("cannot sync " + temporary);
  }
  if (!status_) return status_;  // The destructor removes the temporary.
  fd_.reset();
  if (renameat(dir_.get(), temporary_name_.c_str(), dir_.get(), Base(path_).c_str()) == -1) {
    status_ = jobserver::SystemError("cannot rename " + temporary + " to " + path_);
    unlinkat(dir_.get(), temporary_name_.c_str(), 0);
  }
  return status_;
}

Status WriteFileAtomically(const std::string& path, std::string_view content) {
  Result<AtomicFileWriter> writer = AtomicFileWriter::Create(path);
  if (!writer) return writer.error();
  writer->Append(content);
  return writer->Commit();
}

Status AppendLine(const std::string& path, std::string_view line) {
  Result<UniqueFd> fd = OpenFile(path, O_WRONLY | O_CREAT | O_APPEND);
  if (!fd) return fd.error();
  return WriteAll(fd->get(), line, path);
}

Status AppendLine(int fd, const std::string& path, std::string_view line) {
  return WriteAll(fd, line, path);
}

std::string DescribeBytes(size_t bytes) {
  if (bytes >= (size_t{1} << 20) && bytes % (size_t{1} << 20) == 0) {
    return std::to_string(bytes >> 20) + " MiB";
  }
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

Result<std::string> ReadWholeFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(OpenConfined(path, O_RDONLY, 0, /*follow=*/true));
  if (!fd) {
    const int saved = errno;
    return Error{ErrorKind::kInvalid, path + ": " + strerror(saved)};
  }
  return ReadWholeFile(fd.get(), path, max_bytes);
}

namespace {

Error TooBig(const std::string& path, uint64_t size, size_t max_bytes) {
  return Error{ErrorKind::kInvalid, path + ": " + std::to_string(size) + " bytes, more than the " +
                                        DescribeBytes(max_bytes) + " tierun reads"};
}

}  // namespace

Result<std::string> ReadWholeFile(int fd, const std::string& path, size_t max_bytes) {
  // The size first: a huge file is refused before any of it is read (the
  // reader of a 3 GB result.json must neither abort nor stall the loop).
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes) {
    return TooBig(path, static_cast<uint64_t>(st.st_size), max_bytes);
  }
  std::string content;
  char buffer[65536];
  while (true) {
    // One byte past the bound tells a file that grew (or a pipe) too big.
    const size_t want = std::min(sizeof buffer, max_bytes + 1 - content.size());
    const ssize_t n = RetryOnEintr([&] { return read(fd, buffer, want); });
    if (n == -1) return jobserver::SystemError("cannot read " + path);
    if (n == 0) return content;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > max_bytes) {
      const bool sized = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
      const uint64_t size = sized ? static_cast<uint64_t>(st.st_size) : 0;
      return TooBig(path, std::max<uint64_t>(size, content.size()), max_bytes);
    }
  }
}

}  // namespace tierun
