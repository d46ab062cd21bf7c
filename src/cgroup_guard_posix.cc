#include "src/cgroup_guard_posix.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <utility>

#include "src/subprocess_posix.h"

namespace tierun {
namespace {

using jobserver::RetryOnEintr;
using jobserver::UniqueFd;

/// What the guard needs, made before fork(): after it only system calls.
struct GuardContext {
  int owner_end;  ///< The read end: EOF when the owner is gone.
  int cgroup_fd;
  int events_fd;
  int parent_fd;
  const char* name;
};

/// Closes every fd but those of `context`.
void KeepOnly(const GuardContext& context) {
  std::array<int, 4> keep = {context.owner_end, context.cgroup_fd, context.events_fd,
                             context.parent_fd};
  std::sort(keep.begin(), keep.end());
  unsigned next = 0;
  for (int fd : keep) {
    if (static_cast<unsigned>(fd) > next) CloseRange(next, static_cast<unsigned>(fd) - 1);
    next = static_cast<unsigned>(fd) + 1;
  }
  CloseRange(next, ~0u);
}

bool Populated(int events_fd) {
  char buffer[128];
  const ssize_t n = pread(events_fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return false;  // The cgroup is gone.
  buffer[n] = '\0';
  return strstr(buffer, "populated 1") != nullptr;
}

/// Removes the (emptied) child directories of `dir_fd`, with getdents64:
/// readdir() may allocate.
void RemoveChildren(int dir_fd) {
  alignas(8) char buffer[4096];
  const int listing = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing < 0) return;
  while (true) {
    const long n = syscall(SYS_getdents64, listing, buffer, sizeof buffer);
    if (n <= 0) break;
    for (long offset = 0; offset < n;) {
      struct Entry {
        ino64_t inode;
        off64_t next;
        unsigned short length;
        unsigned char type;
        char name[1];
      };
      const auto* entry = reinterpret_cast<const Entry*>(buffer + offset);
      if (entry->type == DT_DIR && entry->name[0] != '.') {
        unlinkat(dir_fd, entry->name, AT_REMOVEDIR);
      }
      offset += entry->length;
    }
  }
  close(listing);
}

[[noreturn]] void GuardMain(const GuardContext& context) {
  setsid();  // Out of the owner's process group: a group kill spares it.
  KeepOnly(context);
  char byte = 0;
  const ssize_t n = RetryOnEintr([&] { return read(context.owner_end, &byte, 1); });
  if (n == 1) _exit(0);  // Dismissed: the owner ends the cgroup itself.
  // The owner is gone. SIGKILL ends a process at once unless it is stuck in
  // the kernel: a minute of rounds is plenty, and the guard must end too.
  for (int round = 0; round < 600 && Populated(context.events_fd); ++round) {
    const int kill_fd = openat(context.cgroup_fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
    if (kill_fd >= 0) {
      (void)!write(kill_fd, "1", 1);
      close(kill_fd);
    }
    struct pollfd changed = {context.events_fd, POLLPRI, 0};
    poll(&changed, 1, 100);
  }
  RemoveChildren(context.cgroup_fd);
  unlinkat(context.parent_fd, context.name, AT_REMOVEDIR);
  _exit(0);
}

}  // namespace

jobserver::Result<CgroupGuard> CgroupGuard::Start(const Cgroup& cgroup, int parent_fd,
                                                  const std::string& name) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) == -1) return jobserver::SystemError("pipe2");
  UniqueFd guard_end(fds[0]);
  UniqueFd owner_end(fds[1]);
  const GuardContext context{guard_end.get(), cgroup.fd(), cgroup.events_fd(), parent_fd,
                             name.c_str()};
  const pid_t pid = fork();
  if (pid == -1) return jobserver::SystemError("fork");
  if (pid == 0) GuardMain(context);
  NoteChildStarted(pid);
  return CgroupGuard(pid, std::move(owner_end));
}

CgroupGuard::CgroupGuard(pid_t pid, UniqueFd owner_end)
    : pid_(pid), owner_end_(std::move(owner_end)) {}

CgroupGuard::CgroupGuard(CgroupGuard&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), owner_end_(std::move(other.owner_end_)) {}

CgroupGuard::~CgroupGuard() {
  if (pid_ <= 0) return;
  (void)!RetryOnEintr([&] { return write(owner_end_.get(), "q", 1); });
  owner_end_.reset();
  RetryOnEintr([&] { return waitpid(pid_, nullptr, 0); });
  NoteChildReaped(pid_);
}

}  // namespace tierun
