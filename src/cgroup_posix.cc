#include "src/cgroup_posix.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace tierun {
namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;
using jobserver::RetryOnEintr;
using jobserver::UniqueFd;
using Clock = std::chrono::steady_clock;

/// A small file of the kernel's (/proc, cgroupfs), whole; empty on failure.
std::string ReadSmallFile(int dir_fd, const char* name) {
  UniqueFd fd(openat(dir_fd, name, O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t n = RetryOnEintr([&] { return read(fd.get(), buffer, sizeof buffer); });
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > (1u << 20)) break;  // /proc files this large are not ours to parse.
  }
  return text;
}

bool WriteSmallFile(int dir_fd, const char* name, std::string_view text) {
  UniqueFd fd(openat(dir_fd, name, O_WRONLY | O_CLOEXEC));
  if (!fd) return false;
  return RetryOnEintr([&] { return write(fd.get(), text.data(), text.size()); }) ==
         static_cast<ssize_t>(text.size());
}

/// mountinfo escapes blanks and backslashes in paths as \040, \134...
std::string Unescape(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() &&
        std::all_of(field.begin() + static_cast<ptrdiff_t>(i) + 1,
                    field.begin() + static_cast<ptrdiff_t>(i) + 4,
                    [](char c) { return c >= '0' && c <= '7'; })) {
      out += static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

/// The pids listed in a cgroup.procs text.
std::vector<pid_t> ParsePids(const std::string& text) {
  std::vector<pid_t> pids;
  std::istringstream in(text);
  long pid = 0;
  while (in >> pid) pids.push_back(static_cast<pid_t>(pid));
  return pids;
}

/// The names of the directories in `dir_fd`, "." and ".." excluded.
std::vector<std::string> ChildDirectories(int dir_fd) {
  std::vector<std::string> names;
  UniqueFd copy(openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!copy) return names;
  DIR* dir = fdopendir(copy.release());
  if (dir == nullptr) return names;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (entry->d_type == DT_DIR && name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  return names;
}

/// Before cgroup.kill (Linux 5.14): SIGKILL each member until none is left.
/// A member forking meanwhile is caught by the next round.
void KillMembersOneByOne(int dir_fd) {
  for (int round = 0; round < 1000; ++round) {
    const std::vector<pid_t> pids = ParsePids(ReadSmallFile(dir_fd, "cgroup.procs"));
    if (pids.empty()) break;
    for (pid_t pid : pids) kill(pid, SIGKILL);
  }
  for (const std::string& child : ChildDirectories(dir_fd)) {
    UniqueFd fd(openat(dir_fd, child.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd) KillMembersOneByOne(fd.get());
  }
}

}  // namespace

std::optional<CgroupMount> ParseCgroupMount(const std::string& mountinfo) {
  std::istringstream lines(mountinfo);
  std::string line;
  while (std::getline(lines, line)) {
    // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER_OPTIONS
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string type;
    if (!(tail >> type) || type != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, device, root, mount_point;
    if (!(head >> id >> parent >> device >> root >> mount_point)) continue;
    return CgroupMount{Unescape(mount_point), Unescape(root)};
  }
  return std::nullopt;
}

std::optional<std::string> ParseUnifiedCgroupPath(const std::string& proc_cgroup) {
  std::istringstream lines(proc_cgroup);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("0::")) return line.substr(3);
  }
  return std::nullopt;
}

Result<std::string> FindOwnCgroup() {
  const std::optional<CgroupMount> mount =
      ParseCgroupMount(ReadSmallFile(AT_FDCWD, "/proc/self/mountinfo"));
  if (!mount) return Error{ErrorKind::kUnusable, "no cgroup v2 hierarchy is mounted"};
  std::optional<std::string> path =
      ParseUnifiedCgroupPath(ReadSmallFile(AT_FDCWD, "/proc/self/cgroup"));
  if (!path || !path->starts_with("/")) {
    return Error{ErrorKind::kUnusable, "/proc/self/cgroup names no cgroup v2 path"};
  }
  // Our path is relative to the hierarchy's root; the mount may show a
  // subtree of it (a container's), whose root is then a prefix of our path.
  std::string relative = *path;
  if (mount->root != "/") {
    if (!relative.starts_with(mount->root)) {
      return Error{ErrorKind::kUnusable, "our cgroup " + relative + " is outside the mounted " +
                                             mount->root + " (" + mount->mount_point + ")"};
    }
    relative = relative.substr(mount->root.size());
  }
  if (relative.ends_with(" (deleted)")) {
    return Error{ErrorKind::kUnusable, "our cgroup " + relative + " was removed"};
  }
  std::string full = mount->mount_point;
  if (relative != "/" && !relative.empty()) full += relative;
  return full;
}

Cgroup::Cgroup(std::string path, UniqueFd dir, UniqueFd events)
    : path_(std::move(path)), dir_(std::move(dir)), events_(std::move(events)) {}

Result<Cgroup> Cgroup::Create(const std::string& parent, const std::string& name) {
  const std::string path = parent + "/" + name;
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return Error{ErrorKind::kUnusable, "cannot create cgroup " + path + ": " + strerror(errno)};
  }
  return Open(path);
}

Result<Cgroup> Cgroup::Open(const std::string& path) {
  UniqueFd dir(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir)
    return Error{ErrorKind::kUnusable, "cannot open cgroup " + path + ": " + strerror(errno)};
  UniqueFd events(openat(dir.get(), "cgroup.events", O_RDONLY | O_CLOEXEC));
  if (!events) {
    return Error{ErrorKind::kUnusable, path + " is not a cgroup v2 directory: " + strerror(errno)};
  }
  return Cgroup(path, std::move(dir), std::move(events));
}

bool Cgroup::Populated() const {
  char buffer[256];
  const ssize_t n =
      RetryOnEintr([&] { return pread(events_.get(), buffer, sizeof buffer - 1, 0); });
  if (n <= 0) return true;  // Unreadable: assume the worst.
  buffer[n] = '\0';
  return strstr(buffer, "populated 1") != nullptr;
}

void Cgroup::Kill() const {
  if (!WriteSmallFile(dir_.get(), "cgroup.kill", "1")) KillMembersOneByOne(dir_.get());
}

bool Cgroup::KillAndWait(Clock::time_point deadline) const {
  Kill();
  while (Populated()) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    // cgroupfs reports a change of cgroup.events as POLLPRI (kernfs_notify).
    struct pollfd fd = {events_.get(), POLLPRI, 0};
    poll(&fd, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    Kill();  // A member forked between the kill and the exit of its parent.
  }
  return true;
}

void Cgroup::KillChildren() const {
  for (const std::string& child : ChildDirectories(dir_.get())) {
    UniqueFd fd(openat(dir_.get(), child.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd && !WriteSmallFile(fd.get(), "cgroup.kill", "1")) KillMembersOneByOne(fd.get());
  }
}

bool Cgroup::HasChildren() const { return !ChildDirectories(dir_.get()).empty(); }

bool Cgroup::Remove() {
  for (const std::string& child : ChildDirectories(dir_.get())) {
    unlinkat(dir_.get(), child.c_str(), AT_REMOVEDIR);
  }
  return rmdir(path_.c_str()) == 0 || errno == ENOENT;
}

}  // namespace tierun
