#include "src/slot_claim_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "src/subprocess_posix.h"

namespace tierun {
namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;
using jobserver::RetryOnEintr;
using jobserver::UniqueFd;

/// FNV-1a over bytes: stable across processes and runs, unlike std::hash.
uint64_t Fnv1a(const void* data, size_t size, uint64_t hash = 14695981039346656037ull) {
  for (size_t i = 0; i < size; ++i) {
    hash ^= static_cast<const unsigned char*>(data)[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

/// A lock offset for (pool, paid process), within the 63 bits off_t allows.
off_t LockOffset(jobserver::PoolId pool, ProcessKey paid) {
  uint64_t hash = 14695981039346656037ull;
  for (uint64_t word : {static_cast<uint64_t>(pool.device), static_cast<uint64_t>(pool.inode),
                        static_cast<uint64_t>(paid.pid), paid.start_time}) {
    hash = Fnv1a(&word, sizeof word, hash);
  }
  return static_cast<off_t>(hash & 0x3fffffffffffffffull);
}

/// A directory only we can write to; anything else could let another user
/// hold our slots hostage.
Result<std::string> PrivateDirectory() {
  const char* runtime = getenv("XDG_RUNTIME_DIR");
  const std::string dir = runtime != nullptr && *runtime == '/'
                              ? std::string(runtime) + "/tierun"
                              : "/tmp/tierun-" + std::to_string(getuid());
  if (mkdir(dir.c_str(), 0700) == -1 && errno != EEXIST) {
    return jobserver::SystemError("cannot create " + dir);
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) == -1) return jobserver::SystemError("cannot examine " + dir);
  if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 022) != 0) {
    return Error{ErrorKind::kUnusable,
                 dir + " is not a private directory of this user; remove it and retry"};
  }
  return dir;
}

bool LockByte(int fd, off_t offset, bool wait) {
  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = offset;
  lock.l_len = 1;
  return RetryOnEintr([&] { return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &lock); }) == 0;
}

/// The helper, between fork and _exit: closes everything it does not need,
/// waits for the slot on a description of its own, reports, then holds the
/// slot until the parent closes the control pipe (or dies).
[[noreturn]] void RunWaiter(const std::string& lock_path, off_t offset, int ready_fd,
                            int control_fd) {
  const int low = std::min(ready_fd, control_fd);
  const int high = std::max(ready_fd, control_fd);
  // Holding our stdout or the pool open would keep readers waiting for EOF.
  if (low > 0) CloseRange(0, static_cast<unsigned>(low - 1));
  CloseRange(static_cast<unsigned>(low + 1), static_cast<unsigned>(high - 1));
  CloseRange(static_cast<unsigned>(high + 1), ~0u);
  const int fd = open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 || !LockByte(fd, offset, /*wait=*/true)) _exit(1);
  const char held = 'h';
  if (write(ready_fd, &held, 1) != 1) _exit(1);
  char ignored;
  while (RetryOnEintr([&] { return read(control_fd, &ignored, 1); }) > 0) {
  }
  _exit(0);
}

}  // namespace

jobserver::PoolId PoolIdFromAdvertisement(std::string_view text) {
  return jobserver::PoolId{0, static_cast<ino_t>(Fnv1a(text.data(), text.size()))};
}

jobserver::PoolId PoolIdOfUnusablePool(const jobserver::MakeflagsEnvironment& env) {
  std::string text;
  for (const auto* value : {&env.makeflags, &env.cargo_makeflags, &env.mflags}) {
    text += value->value_or("") + '\0';
  }
  return PoolIdFromAdvertisement(text);
}

Result<ImplicitSlotClaim> ImplicitSlotClaim::Open(jobserver::PoolId pool, ProcessKey paid) {
  Result<std::string> dir = PrivateDirectory();
  if (!dir) return dir.error();
  std::string path = *dir + "/implicit-slots.lock";
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return jobserver::SystemError("cannot open " + path);
  return ImplicitSlotClaim(std::move(fd), std::move(path), LockOffset(pool, paid));
}

ImplicitSlotClaim::ImplicitSlotClaim(UniqueFd lock_fd, std::string lock_path, off_t offset)
    : lock_fd_(std::move(lock_fd)), lock_path_(std::move(lock_path)), offset_(offset) {}

ImplicitSlotClaim::ImplicitSlotClaim(ImplicitSlotClaim&& other) noexcept
    : lock_fd_(std::move(other.lock_fd_)),
      lock_path_(std::move(other.lock_path_)),
      offset_(other.offset_),
      held_(std::exchange(other.held_, false)),
      waiter_pid_(std::exchange(other.waiter_pid_, -1)),
      ready_fd_(std::move(other.ready_fd_)),
      control_fd_(std::move(other.control_fd_)) {}

ImplicitSlotClaim::~ImplicitSlotClaim() { StopWaiter(); }

bool ImplicitSlotClaim::TryClaim() {
  if (!held_) held_ = LockByte(lock_fd_.get(), offset_, /*wait=*/false);
  return held_;
}

jobserver::Status ImplicitSlotClaim::StartWaiting() {
  int ready[2];
  int control[2];
  if (pipe2(ready, O_CLOEXEC) == -1) return jobserver::SystemError("pipe2");
  UniqueFd ready_read(ready[0]);
  UniqueFd ready_write(ready[1]);
  if (pipe2(control, O_CLOEXEC) == -1) return jobserver::SystemError("pipe2");
  UniqueFd control_read(control[0]);
  UniqueFd control_write(control[1]);
  const pid_t pid = fork();
  if (pid == -1) return jobserver::SystemError("fork");
  if (pid == 0) RunWaiter(lock_path_, offset_, ready_write.get(), control_read.get());
  NoteChildStarted(pid);
  waiter_pid_ = pid;
  ready_fd_ = std::move(ready_read);
  // While we keep the control pipe's write end, the helper keeps the slot;
  // if we die, it sees EOF and exits, and the kernel drops the lock.
  control_fd_ = std::move(control_write);
  return {};
}

bool ImplicitSlotClaim::CollectWaiter() {
  char byte = 0;
  const ssize_t n = RetryOnEintr([&] { return read(ready_fd_.get(), &byte, 1); });
  ready_fd_.reset();
  held_ = n == 1;
  return held_;
}

void ImplicitSlotClaim::Release() {
  if (waiter_pid_ > 0) {
    StopWaiter();  // The helper held the lock, or waited for it: either ends with it.
    ready_fd_.reset();
    control_fd_.reset();
  } else if (held_) {
    struct flock unlock = {};
    unlock.l_type = F_UNLCK;
    unlock.l_whence = SEEK_SET;
    unlock.l_start = offset_;
    unlock.l_len = 1;
    RetryOnEintr([&] { return fcntl(lock_fd_.get(), F_OFD_SETLK, &unlock); });
  }
  held_ = false;
}

void ImplicitSlotClaim::StopWaiter() {
  if (waiter_pid_ <= 0) return;
  kill(waiter_pid_, SIGKILL);
  RetryOnEintr([&] { return waitpid(waiter_pid_, nullptr, 0); });
  NoteChildReaped(waiter_pid_);
  waiter_pid_ = -1;
}

}  // namespace tierun
