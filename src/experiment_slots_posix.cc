#include "src/experiment_slots_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>

#include "src/atomic_file.h"
#include "src/exit_status.h"
#include "src/subprocess_posix.h"

namespace tierun {
namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;
using jobserver::RetryOnEintr;
using jobserver::Status;
using jobserver::UniqueFd;

std::string SlotName(int index) { return "slot." + std::to_string(index + 1); }

/// Opens slot.K below `dir_fd`, creating it. Agents share the results tree,
/// so a symlink or FIFO planted at the name is refused, not followed or
/// waited on.
Result<UniqueFd> OpenSlotFile(int dir_fd, const std::string& dir, int index) {
  const std::string name = SlotName(index);
  const std::string path = dir + "/" + name;
  UniqueFd fd(RetryOnEintr([&] {
    return openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                  0644);
  }));
  if (!fd && errno == ELOOP) {
    return Error{ErrorKind::kUnusable, path + " is a symbolic link, not a slot file"};
  }
  if (!fd) return jobserver::SystemError("cannot open " + path);
  struct stat st;
  if (fstat(fd.get(), &st) == -1) return jobserver::SystemError("cannot examine " + path);
  if (!S_ISREG(st.st_mode)) {
    return Error{ErrorKind::kUnusable, path + " is not a regular file, so not a slot file"};
  }
  return fd;
}

/// The helper, between fork() and _exit(): blocks in flock() on the
/// description it shares with us, so the lock it gets is ours. Exit status
/// 0 says it holds the slot. It dies with us, and holds nothing else open.
[[noreturn]] void RunHelper(int fd, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(2);  // We died before the line above.
  if (fd > 0) CloseRange(0, static_cast<unsigned>(fd - 1));
  CloseRange(static_cast<unsigned>(fd + 1), ~0u);
  _exit(RetryOnEintr([&] { return flock(fd, LOCK_EX); }) == 0 ? 0 : 1);
}

/// Waits for a helper that has ended (its pidfd turned readable) or that
/// was just killed; returns its wait status.
int ReapHelper(pid_t pid) {
  int status = 0;
  RetryOnEintr([&] { return waitpid(pid, &status, 0); });
  NoteChildReaped(pid);
  return status;
}

}  // namespace

ExperimentSlot::ExperimentSlot(ExperimentSlot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), index_(std::exchange(other.index_, -1)) {}

ExperimentSlot& ExperimentSlot::operator=(ExperimentSlot&& other) noexcept {
  if (this != &other) {
    Return();
    owner_ = std::exchange(other.owner_, nullptr);
    index_ = std::exchange(other.index_, -1);
  }
  return *this;
}

void ExperimentSlot::Return() {
  if (owner_ != nullptr) std::exchange(owner_, nullptr)->Return(index_);
  index_ = -1;
}

std::string ExperimentSlots::DirectoryFor(std::string experiment_dir) {
  while (experiment_dir.size() > 1 && experiment_dir.back() == '/') experiment_dir.pop_back();
  const size_t slash = experiment_dir.rfind('/');
  if (slash == std::string::npos) return "." + experiment_dir + ".slots";
  return experiment_dir.substr(0, slash + 1) + "." + experiment_dir.substr(slash + 1) + ".slots";
}

Result<std::unique_ptr<ExperimentSlots>> ExperimentSlots::Open(const std::string& dir, int slots) {
  if (slots < 1) {
    return Error{ErrorKind::kInvalid,
                 "experiment slots must be at least 1, got " + std::to_string(slots)};
  }
  if (Status made = MakeDirectories(dir); !made) return made.error();
  UniqueFd dir_fd(RetryOnEintr(
      [&] { return open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); }));
  if (!dir_fd && (errno == ELOOP || errno == ENOTDIR)) {
    return Error{ErrorKind::kUnusable, dir + " is not a directory of slot files"};
  }
  if (!dir_fd) return jobserver::SystemError("cannot open " + dir);
  std::vector<Slot> files(static_cast<size_t>(slots));
  for (int index = 0; index < slots; ++index) {
    Result<UniqueFd> fd = OpenSlotFile(dir_fd.get(), dir, index);
    if (!fd) return fd.error();
    files[static_cast<size_t>(index)].fd = std::move(*fd);
  }
  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return jobserver::SystemError("epoll_create1");
  return std::unique_ptr<ExperimentSlots>(
      new ExperimentSlots(dir, std::move(files), std::move(epoll)));
}

ExperimentSlots::ExperimentSlots(std::string dir, std::vector<Slot> slots, UniqueFd epoll)
    : dir_(std::move(dir)), slots_(std::move(slots)), epoll_(std::move(epoll)), parent_(getpid()) {}

ExperimentSlots::~ExperimentSlots() { StopWaiting(); }

int ExperimentSlots::held() const {
  int count = 0;
  for (const Slot& slot : slots_) {
    count += slot.state == State::kInUse || slot.state == State::kTaken ? 1 : 0;
  }
  return count;
}

ExperimentSlot ExperimentSlots::TryTake() {
  for (size_t index = 0; index < slots_.size(); ++index) {
    if (slots_[index].state != State::kTaken) continue;
    slots_[index].state = State::kInUse;
    return ExperimentSlot(this, static_cast<int>(index));
  }
  for (size_t index = 0; index < slots_.size(); ++index) {
    Slot& slot = slots_[index];
    if (slot.state != State::kFree) continue;
    if (RetryOnEintr([&] { return flock(slot.fd.get(), LOCK_EX | LOCK_NB); }) == 0) {
      slot.state = State::kInUse;
      return ExperimentSlot(this, static_cast<int>(index));
    }
  }
  return ExperimentSlot();
}

void ExperimentSlots::Return(int index) {
  Slot& slot = slots_[static_cast<size_t>(index)];
  Unlock(slot);
  slot.state = State::kFree;
}

void ExperimentSlots::Unlock(Slot& slot) {
  RetryOnEintr([&] { return flock(slot.fd.get(), LOCK_UN); });
}

Result<int> ExperimentSlots::StartWaiting() {
  for (size_t index = 0; index < slots_.size(); ++index) {
    if (slots_[index].state != State::kFree) continue;
    if (Status started = StartHelper(static_cast<int>(index)); !started) return started.error();
  }
  return epoll_.get();
}

Status ExperimentSlots::StartHelper(int index) {
  Slot& slot = slots_[static_cast<size_t>(index)];
  const pid_t pid = fork();
  if (pid == -1) return jobserver::SystemError("fork");
  if (pid == 0) RunHelper(slot.fd.get(), parent_);
  NoteChildStarted(pid);
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  struct epoll_event event = {};
  event.events = EPOLLIN;
  event.data.u32 = static_cast<uint32_t>(index);
  if (!pidfd || epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd.get(), &event) == -1) {
    const Error error = jobserver::SystemError("watching the helper of " + SlotName(index));
    kill(pid, SIGKILL);
    ReapHelper(pid);
    Unlock(slot);  // It may have got the lock before it died.
    return error;
  }
  slot.helper = pid;
  slot.pidfd = std::move(pidfd);
  slot.state = State::kAwaited;
  return {};
}

Status ExperimentSlots::CollectWaiters() {
  struct epoll_event events[16];
  const int ready = RetryOnEintr([&] { return epoll_wait(epoll_.get(), events, 16, 0); });
  if (ready == -1) return jobserver::SystemError("epoll_wait");
  Status status;
  for (int i = 0; i < ready; ++i) {
    Slot& slot = slots_[events[i].data.u32];
    if (slot.state != State::kAwaited) continue;
    const ExitStatus ended = ExitStatus::FromWaitStatus(ReapHelper(slot.helper));
    slot.pidfd.reset();  // Closing it takes it out of the epoll set.
    slot.helper = -1;
    if (ended.exited() && ended.code() == 0) {
      slot.state = State::kTaken;
      continue;
    }
    Unlock(slot);
    slot.state = State::kFree;
    status = Error{ErrorKind::kSystem, "the process waiting for " + dir_ + "/" +
                                           SlotName(static_cast<int>(events[i].data.u32)) +
                                           " ended without it (" + ended.Describe() + ")"};
  }
  return status;
}

void ExperimentSlots::StopWaiting() {
  for (Slot& slot : slots_) {
    if (slot.state == State::kAwaited) {
      kill(slot.helper, SIGKILL);
      ReapHelper(slot.helper);
      slot.pidfd.reset();
      slot.helper = -1;
    }
    // A helper killed just after its flock() leaves the lock on our
    // description: unlocked here, whether or not it got that far.
    if (slot.state == State::kAwaited || slot.state == State::kTaken) {
      Unlock(slot);
      slot.state = State::kFree;
    }
  }
}

}  // namespace tierun
