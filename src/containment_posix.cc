#include "src/containment_posix.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include "src/paid_process_posix.h"
#include "src/subprocess_posix.h"

namespace tierun {
namespace {

using jobserver::RetryOnEintr;
using jobserver::UniqueFd;
using Clock = std::chrono::steady_clock;

/// How long a session waits for a killed cgroup to empty: SIGKILL ends a
/// process at once unless it is stuck in the kernel.
constexpr auto kDrainDeadline = std::chrono::seconds(10);
constexpr const char* kRecordPrefix = ".tierun-cgroup.";

/// Reads at most `limit` bytes of a file below `dir_fd` that is a regular
/// file (or of /proc); empty when it is anything else.
std::string ReadBounded(int dir_fd, const std::string& name, size_t limit) {
  UniqueFd fd(openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return {};
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  std::string text(limit, '\0');
  size_t used = 0;
  while (used < limit) {
    const ssize_t n =
        RetryOnEintr([&] { return read(fd.get(), text.data() + used, limit - used); });
    if (n <= 0) break;
    used += static_cast<size_t>(n);
  }
  text.resize(used);
  return text;
}

std::string SessionName(const std::string& role, const ProcessKey& self) {
  return "tierun-" + role + "-" + std::to_string(self.pid) + "-" + std::to_string(self.start_time);
}

ProcessKey Self() {
  std::optional<ProcessInfo> info = ReadProcessInfo(getpid());
  return info ? info->key : ProcessKey{getpid(), 0};
}

bool IsAlive(const ProcessKey& key) {
  std::optional<ProcessInfo> info = ReadProcessInfo(key.pid);
  return info && info->key.start_time == key.start_time;
}

/// Our children as the kernel lists them, every thread's.
std::vector<pid_t> OwnChildren() {
  std::vector<pid_t> children;
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return children;
  while (const dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    std::istringstream in(ReadBounded(
        AT_FDCWD, std::string("/proc/self/task/") + entry->d_name + "/children", 1 << 20));
    long pid = 0;
    while (in >> pid) children.push_back(static_cast<pid_t>(pid));
  }
  closedir(tasks);
  return children;
}

}  // namespace

std::unique_ptr<Containment> Containment::Create(const std::string& role) {
  std::unique_ptr<Containment> containment(new Containment());
  const char* forced = getenv("TIERUN_CONTAINMENT");
  std::string why;
  if (forced != nullptr && std::string(forced) == "subreaper") {
    why = "TIERUN_CONTAINMENT=subreaper";
  } else if (jobserver::Result<std::string> own = FindOwnCgroup(); !own) {
    why = own.error().message;
  } else if (faccessat(AT_FDCWD, (*own + "/cgroup.procs").c_str(), W_OK, AT_EACCESS) != 0) {
    // Starting a process in a cgroup below ours needs write access to our
    // own cgroup.procs (the common ancestor's): a delegated subtree gives it.
    why = "cannot write " + *own + "/cgroup.procs: " + strerror(errno);
  } else if (const std::string name = SessionName(role, Self());
             auto session = Cgroup::Create(*own, name)) {
    containment->kind_ = ContainmentKind::kCgroup;
    containment->session_.emplace(std::move(*session));
    containment->description_ = "cgroup v2 (" + containment->session_->path() + ")";
    containment->StartGuard(*own, name);
    return containment;
  } else {
    why = session.error().message;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  containment->description_ = "child subreaper (no cgroup: " + why + ")";
  return containment;
}

void Containment::StartGuard(const std::string& own, const std::string& name) {
  own_cgroup_.reset(open(own.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto guard = own_cgroup_ ? CgroupGuard::Start(*session_, own_cgroup_.get(), name)
                           : jobserver::Result<CgroupGuard>(jobserver::SystemError(own));
  if (guard) {
    guard_.emplace(std::move(*guard));
  } else {
    fprintf(stderr,
            "tierun: warning: no guard for %s (%s): if tierun is killed, the next session "
            "ends what it leaves\n",
            session_->path().c_str(), guard.error().message.c_str());
  }
}

Containment::~Containment() {
  if (!session_) return;
  session_->KillAndWait(Clock::now() + kDrainDeadline);
  boxes_.clear();
  session_->Remove();
}

int Containment::AcquireBox() {
  if (!session_) return -1;
  if (!free_boxes_.empty()) {
    const int box = free_boxes_.back();
    free_boxes_.pop_back();
    return box;
  }
  auto box = Cgroup::Create(session_->path(), "box-" + std::to_string(boxes_.size()));
  if (!box) {
    if (!std::exchange(warned_, true)) {
      fprintf(stderr, "tierun: warning: %s; an attempt is held by its process group alone\n",
              box.error().message.c_str());
    }
    return -1;
  }
  boxes_.push_back(std::move(*box));
  killed_.push_back(false);
  return static_cast<int>(boxes_.size()) - 1;
}

int Containment::BoxFd(int box) const { return box < 0 ? -1 : boxes_[box]->fd(); }

int Containment::BoxEventsFd(int box) const { return box < 0 ? -1 : boxes_[box]->events_fd(); }

bool Containment::DrainBox(int box) {
  if (box < 0) return true;
  const Cgroup& cgroup = *boxes_[box];
  if (!cgroup.Populated()) return true;
  cgroup.Kill();
  killed_[box] = true;
  return !cgroup.Populated();
}

bool Containment::EndBox(int box, std::chrono::milliseconds execs_exit,
                         Clock::time_point deadline) {
  if (box < 0) return true;
  const Cgroup& cgroup = *boxes_[box];
  if (cgroup.HasChildren()) {
    cgroup.KillChildren();
    // An exec removes its cgroup as it exits; no event says so in ours, so
    // look every 10 ms, for at most `execs_exit`.
    const Clock::time_point given_up = Clock::now() + execs_exit;
    while (cgroup.HasChildren() && cgroup.Populated() && Clock::now() < given_up) {
      struct pollfd changed = {cgroup.events_fd(), POLLPRI, 0};
      poll(&changed, 1, 10);
    }
  }
  if (DrainBox(box)) return true;
  return cgroup.KillAndWait(deadline);
}

void Containment::KillBelowBoxes() {
  for (const std::optional<Cgroup>& box : boxes_) {
    if (box) box->KillChildren();
  }
}

void Containment::ReleaseBox(int box) {
  if (box < 0) return;
  if (!killed_[box]) {
    free_boxes_.push_back(box);
    return;
  }
  // Never reused: on Linux 6.18 a process created with CLONE_INTO_CGROUP in
  // a cgroup that was once killed is SIGKILLed at birth (the kill count
  // clone3 compares is its parent cgroup's). Killed boxes are rare: most
  // agents leave nothing behind.
  boxes_[box]->Remove();
  boxes_[box].reset();
}

void Containment::EndOrphans(const std::function<bool(pid_t)>& keep) {
  if (kind_ != ContainmentKind::kSubreaper) return;
  // Killing an orphan reparents its own children to us: go round until a
  // round finds none left to end. Each round kills what it found, so a
  // forking process stops forking once it is found.
  for (int round = 0; round < 10000; ++round) {
    std::vector<pid_t> ended;
    {
      const ChildRegistryLock sorting;
      for (pid_t pid : OwnChildren()) {
        if (Subprocess::IsStartedHere(pid) || keep(pid)) continue;
        kill(pid, SIGKILL);
        ended.push_back(pid);
      }
    }
    if (ended.empty()) return;
    for (pid_t pid : ended) RetryOnEintr([&] { return waitpid(pid, nullptr, 0); });
  }
}

std::string RunDirOfProcess(pid_t pid) {
  const std::string environ =
      ReadBounded(AT_FDCWD, "/proc/" + std::to_string(pid) + "/environ", 1 << 20);
  static constexpr std::string_view kName = "TIERUN_RUN_DIR=";
  for (size_t start = 0; start < environ.size();) {
    const size_t end = std::min(environ.find('\0', start), environ.size());
    std::string_view entry(environ.data() + start, end - start);
    if (entry.starts_with(kName)) return std::string(entry.substr(kName.size()));
    start = end + 1;
  }
  return {};
}

void RecordSession(int experiment_fd, const Containment& containment) {
  if (containment.kind() != ContainmentKind::kCgroup) return;
  const ProcessKey self = Self();
  const std::string name =
      kRecordPrefix + std::to_string(self.pid) + "-" + std::to_string(self.start_time);
  UniqueFd fd(openat(experiment_fd, name.c_str(),
                     O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return;
  const std::string text = containment.session_path() + "\n";
  (void)!write(fd.get(), text.data(), text.size());
}

void ForgetSession(int experiment_fd) {
  const ProcessKey self = Self();
  const std::string name =
      kRecordPrefix + std::to_string(self.pid) + "-" + std::to_string(self.start_time);
  unlinkat(experiment_fd, name.c_str(), 0);
}

namespace {

/// The cgroup a record names, when it is one a tierun run of that pid and
/// start time made, and that tierun is gone; an agent may have written the
/// record, so nothing else is ever killed.
std::optional<std::string> LeftoverCgroup(const std::string& record_name, std::string text) {
  const std::string key = record_name.substr(strlen(kRecordPrefix));
  const size_t dash = key.find('-');
  if (dash == std::string::npos) return std::nullopt;
  ProcessKey owner;
  char* end = nullptr;
  owner.pid = static_cast<pid_t>(strtol(key.c_str(), &end, 10));
  if (end != key.c_str() + dash) return std::nullopt;
  owner.start_time = strtoull(key.c_str() + dash + 1, &end, 10);
  if (*end != '\0' || owner.pid <= 0 || IsAlive(owner)) return std::nullopt;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const std::string expected_name = "/tierun-run-" + key;
  if (!text.starts_with("/") || !text.ends_with(expected_name) ||
      text.find("/../") != std::string::npos || text.find('\n') != std::string::npos) {
    return std::nullopt;
  }
  const std::optional<CgroupMount> mount =
      ParseCgroupMount(ReadBounded(AT_FDCWD, "/proc/self/mountinfo", 1 << 20));
  if (!mount || !text.starts_with(mount->mount_point + "/")) return std::nullopt;
  return text;
}

}  // namespace

std::vector<std::string> EndLeftovers(int experiment_fd) {
  std::vector<std::string> said;
  UniqueFd copy(openat(experiment_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  DIR* dir = copy ? fdopendir(copy.release()) : nullptr;
  if (dir == nullptr) return said;
  std::vector<std::string> records;
  while (const dirent* entry = readdir(dir)) {
    if (std::string_view(entry->d_name).starts_with(kRecordPrefix))
      records.push_back(entry->d_name);
  }
  closedir(dir);
  for (const std::string& record : records) {
    std::optional<std::string> path =
        LeftoverCgroup(record, ReadBounded(experiment_fd, record, 4096));
    if (path) {
      if (auto cgroup = Cgroup::Open(*path)) {
        const bool populated = cgroup->Populated();
        const bool emptied = cgroup->KillAndWait(Clock::now() + kDrainDeadline);
        cgroup->Remove();
        if (populated) {
          said.push_back(emptied ? "ended what a killed session left in " + *path
                                 : "could not end what a killed session left in " + *path);
        }
        if (!emptied) continue;  // Keep the record: the next session tries again.
      }
    }
    if (!path && !record.empty()) {
      // A live session's record stays; a forged or stale one goes.
      const std::string key = record.substr(strlen(kRecordPrefix));
      ProcessKey owner;
      owner.pid = static_cast<pid_t>(atol(key.c_str()));
      const size_t dash = key.find('-');
      owner.start_time =
          dash == std::string::npos ? 0 : strtoull(key.c_str() + dash + 1, nullptr, 10);
      if (owner.pid > 0 && IsAlive(owner)) continue;
    }
    unlinkat(experiment_fd, record.c_str(), 0);
  }
  return said;
}

}  // namespace tierun
