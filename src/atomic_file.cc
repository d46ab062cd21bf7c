#include "src/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <memory>

#include "jobserver/unique_fd.h"

namespace tierun {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::RetryOnEintr;
using jobserver::Status;
using jobserver::UniqueFd;

namespace {

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

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

}  // namespace

Status MakeDirectories(const std::string& path) {
  if (path.empty()) return {};
  // mkdir first: a runner creates a directory per run, and asking stat()
  // before each would double the path walks of the common case.
  if (mkdir(path.c_str(), 0755) == 0) return {};
  if (errno == ENOENT) {
    const std::string parent = Parent(path);
    if (parent == path) return jobserver::SystemError("cannot create directory " + path);
    if (Status made = MakeDirectories(parent); !made) return made;
    if (mkdir(path.c_str(), 0755) == 0) return {};
  }
  if (errno != EEXIST) return jobserver::SystemError("cannot create directory " + path);
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
  return Error{ErrorKind::kSystem, path + " exists and is not a directory"};
}

namespace {
std::atomic<bool> sync_writes{false};
}  // namespace

void SetSyncWrites(bool sync) { sync_writes = sync; }

namespace {

/// A new file: O_EXCL and O_NOFOLLOW, so that nothing planted at the
/// temporary's name (a symlink above all) can redirect the write.
UniqueFd CreateForWriting(const std::string& path) {
  return UniqueFd(RetryOnEintr([&] {
    return open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  }));
}

}  // namespace

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
  std::unique_ptr<DIR, int (*)(DIR*)> listing(opendir(dir.c_str()), closedir);
  if (!listing) return;
  while (const dirent* entry = readdir(listing.get())) {
    const pid_t owner = TemporaryOwner(entry->d_name);
    if (owner <= 0 || owner == getpid()) continue;
    if (kill(owner, 0) == -1 && errno == ESRCH) unlinkat(dirfd(listing.get()), entry->d_name, 0);
  }
}

Status WriteFileAtomically(const std::string& path, std::string_view content) {
  // Runners sharing a results directory rewrite the same reports at once:
  // the pid keeps two processes, and the counter two writers in one process,
  // from sharing a temporary.
  static std::atomic<unsigned> serial{0};
  const std::string temporary =
      path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(serial++);
  UniqueFd fd = CreateForWriting(temporary);
  if (!fd && errno == EEXIST) {
    // A runner killed mid-write left it, and its pid came round again:
    // unlink() removes the name itself, never what a symlink points to.
    unlink(temporary.c_str());
    fd = CreateForWriting(temporary);
  }
  if (!fd && errno == ENOENT) {
    // The directory is missing only the first time: create it then, rather
    // than stat() it before every write.
    if (Status made = MakeDirectories(Parent(path)); !made) return made;
    fd = CreateForWriting(temporary);
  }
  if (!fd) return jobserver::SystemError("cannot create " + temporary);
  Status written = WriteAll(fd.get(), content, temporary);
  if (written && sync_writes && fsync(fd.get()) == -1)
    written = jobserver::SystemError("cannot sync " + temporary);
  fd.reset();
  if (written && rename(temporary.c_str(), path.c_str()) == -1) {
    written = jobserver::SystemError("cannot rename " + temporary + " to " + path);
  }
  if (!written) unlink(temporary.c_str());
  return written;
}

Status AppendLine(const std::string& path, std::string_view line) {
  UniqueFd fd(RetryOnEintr([&] {
    return open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
  }));
  if (!fd) return jobserver::SystemError("cannot open " + path);
  return WriteAll(fd.get(), line, path);
}

Status AppendLine(int fd, const std::string& path, std::string_view line) {
  return WriteAll(fd, line, path);
}

jobserver::Result<std::string> ReadWholeFile(const std::string& path) {
  UniqueFd fd(RetryOnEintr([&] { return open(path.c_str(), O_RDONLY | O_CLOEXEC); }));
  if (!fd) {
    const int saved = errno;
    return Error{ErrorKind::kInvalid, path + ": " + strerror(saved)};
  }
  std::string content;
  char buffer[65536];
  while (true) {
    const ssize_t n = RetryOnEintr([&] { return read(fd.get(), buffer, sizeof buffer); });
    if (n == -1) return jobserver::SystemError("cannot read " + path);
    if (n == 0) return content;
    content.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace tierun
