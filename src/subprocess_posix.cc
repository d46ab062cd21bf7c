#include "src/subprocess_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

extern char** environ;

namespace tierun {
namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;
using jobserver::RetryOnEintr;
using jobserver::UniqueFd;

#if defined(__SANITIZE_THREAD__)
#define TIERUN_VFORK_IS_FORK 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TIERUN_VFORK_IS_FORK 1
#endif
#endif
#ifdef TIERUN_VFORK_IS_FORK
// ThreadSanitizer runs vfork() as fork(): what the child writes to our memory
// is lost, so the exec errno comes back through a close-on-exec pipe instead.
constexpr bool kVforkSharesMemory = false;
#else
constexpr bool kVforkSharesMemory = true;
#endif

/// Strings and the pointer arrays execve wants, built before vfork(): the
/// child may only make async-signal-safe calls.
struct ExecImage {
  std::vector<std::string> strings;  ///< argv, then the variables we set.
  std::vector<char*> argv;
  std::vector<char*> envp;
};

bool IsReplaced(const char* entry, const SpawnOptions& options) {
  for (const auto& [name, value] : options.environment) {
    if (strncmp(entry, name.c_str(), name.size()) == 0 && entry[name.size()] == '=') return true;
  }
  return false;
}

ExecImage BuildImage(const SpawnOptions& options) {
  ExecImage image;
  image.strings = options.argv;
  for (const auto& [name, value] : options.environment) {
    image.strings.push_back(name + "=" + value);
  }
  for (size_t i = 0; i < options.argv.size(); ++i) image.argv.push_back(image.strings[i].data());
  image.argv.push_back(nullptr);
  // The inherited variables are not copied: environ stays as it is until
  // the child has exec'd (nothing between here and vfork() sets a variable),
  // and copying it cost a string per variable per agent.
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!IsReplaced(*entry, options)) image.envp.push_back(*entry);
  }
  for (size_t i = options.argv.size(); i < image.strings.size(); ++i) {
    image.envp.push_back(image.strings[i].data());
  }
  image.envp.push_back(nullptr);
  return image;
}

/// The fds a child keeps with SpawnOptions::close_other_fds, sorted, built
/// before vfork(); `extra` (-1 for none) is one more.
std::vector<int> FdsToKeep(const SpawnOptions& options, int extra) {
  std::vector<int> keep = options.inherit_fds;
  if (extra >= 0) keep.push_back(extra);
  std::sort(keep.begin(), keep.end());
  return keep;
}

/// Closes every fd above 2 but `keep` (sorted).
void CloseAllBut(const std::vector<int>& keep) {
  unsigned next = 3;
  for (int fd : keep) {
    if (fd < static_cast<int>(next)) continue;
    if (static_cast<unsigned>(fd) > next) CloseRange(next, static_cast<unsigned>(fd) - 1);
    next = static_cast<unsigned>(fd) + 1;
  }
  CloseRange(next, ~0u);
}

/// In the child, between vfork and exec: only async-signal-safe calls, and
/// nothing written to memory the parent will read (signal dispositions and
/// the fd table are the child's own copies).
[[noreturn]] void ExecChild(const SpawnOptions& options, const ExecImage& image,
                            const std::vector<int>& keep_fds, volatile int* exec_errno,
                            int exec_errno_pipe, pid_t parent) {
  // Group first, then dispositions, and only then unblock: a signal arriving
  // in between must neither miss the group nor run one of our handlers (the
  // library's FIFO cleanup) in the child. Ignored signals stay ignored.
  if (options.new_process_group) setpgid(0, 0);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
    struct sigaction current;
    if (sigaction(signal_number, nullptr, &current) == 0 && current.sa_handler != SIG_IGN) {
      signal(signal_number, SIG_DFL);
    }
  }
  signal(SIGPIPE, SIG_DFL);  // tierun ignores it, and SIG_IGN survives exec.
  // The child must not outlive the process accounting for its slot.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int fd : options.inherit_fds) fcntl(fd, F_SETFD, 0);
  if (options.stdout_fd >= 0) dup2(options.stdout_fd, STDOUT_FILENO);
  if (options.stderr_fd >= 0) dup2(options.stderr_fd, STDERR_FILENO);
  if (options.close_other_fds) CloseAllBut(keep_fds);
  execvpe(image.argv[0], image.argv.data(), image.envp.data());
  // The parent resumes only after our exec or _exit, and shares our memory
  // until then: it reads this once vfork() returns.
  const int saved = errno;
  *exec_errno = saved;
  if (exec_errno_pipe >= 0) (void)!write(exec_errno_pipe, &saved, sizeof saved);
  _exit(127);
}

}  // namespace

void CloseRange(unsigned first, unsigned last) {
  if (first > last) return;
  if (syscall(SYS_close_range, first, last, 0u) == 0) return;
  const long open_max = sysconf(_SC_OPEN_MAX);
  const unsigned limit = open_max > 0 ? static_cast<unsigned>(open_max) - 1 : 1023u;
  for (unsigned fd = first; fd <= std::min(last, limit); ++fd) close(static_cast<int>(fd));
}

Result<Subprocess> Subprocess::Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return Error{ErrorKind::kInvalid, "no command to run"};
  const ExecImage image = BuildImage(options);
  volatile int exec_errno = 0;
  const pid_t parent = getpid();
  // vfork: the child borrows our memory until it execs, so starting an agent
  // copies no page tables (fork's cost grows with our heap). ExecChild only
  // makes syscalls and writes nothing of ours but `exec_errno`.
  UniqueFd errno_read;
  UniqueFd errno_write;
  if (!kVforkSharesMemory) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == -1) return jobserver::SystemError("pipe2");
    errno_read.reset(fds[0]);
    errno_write.reset(fds[1]);
  }
  const std::vector<int> keep_fds = FdsToKeep(options, errno_write.get());
  const pid_t pid = vfork();
  if (pid == -1) return jobserver::SystemError("vfork");
  if (pid == 0) ExecChild(options, image, keep_fds, &exec_errno, errno_write.get(), parent);
  if (!kVforkSharesMemory) {
    errno_write.reset();  // EOF once the child has exec'd.
    int value = 0;
    if (RetryOnEintr([&] { return read(errno_read.get(), &value, sizeof value); }) ==
        sizeof value) {
      exec_errno = value;
    }
  }
  // No setpgid() here: vfork() returns only once the child has exec'd or
  // exited, and its first call was setpgid(0, 0), so a signal sent right
  // after Spawn() reaches the group already.
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  Subprocess child(pid, std::move(pidfd), options.new_process_group);
  if (exec_errno != 0) {
    child.Wait();
    return Error{ErrorKind::kUnusable,
                 "cannot run '" + options.argv[0] + "': " + strerror(exec_errno)};
  }
  if (!child.pidfd_) return jobserver::SystemError("pidfd_open");
  return child;
}

Subprocess::Subprocess(pid_t pid, UniqueFd pidfd, bool own_group)
    : pid_(pid), pidfd_(std::move(pidfd)), own_group_(own_group) {}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      own_group_(other.own_group_),
      reaped_(std::exchange(other.reaped_, true)) {}

Subprocess::~Subprocess() {
  if (pid_ <= 0 || reaped_) return;
  Signal(SIGKILL);
  Wait();
}

std::optional<ExitStatus> Subprocess::TryWait() {
  if (reaped_) return std::nullopt;
  int status = 0;
  const pid_t done = RetryOnEintr([&] { return waitpid(pid_, &status, WNOHANG); });
  if (done != pid_) return std::nullopt;
  reaped_ = true;
  return ExitStatus::FromWaitStatus(status);
}

ExitStatus Subprocess::Wait() {
  int status = 0;
  RetryOnEintr([&] { return waitpid(pid_, &status, 0); });
  reaped_ = true;
  return ExitStatus::FromWaitStatus(status);
}

void Subprocess::KillRemainingGroup() {
  if (pid_ > 0 && own_group_ && reaped_) kill(-pid_, SIGKILL);
}

void Subprocess::Signal(int signal_number) {
  if (pid_ <= 0 || reaped_) return;
  // A zombie's group still exists, so this cannot hit a recycled pid.
  if (own_group_ && kill(-pid_, signal_number) == 0) return;
  kill(pid_, signal_number);
}

}  // namespace tierun
