#include "src/subprocess_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <unordered_set>
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

// A child that shares our memory and runs on a stack of its own (clone3 with
// CLONE_VM | CLONE_VFORK, as glibc's posix_spawn does) needs a few lines of
// assembly: the child must not return through the caller's stack frames.
// Elsewhere, and under the sanitizers (which track every stack), clone3
// forks: it copies our page tables, which costs more, and nothing else.
#if defined(__x86_64__) && !defined(TIERUN_VFORK_IS_FORK) && !defined(__SANITIZE_ADDRESS__)
#define TIERUN_CLONE3_SHARES_MEMORY 1
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
struct ChildContext {
  const SpawnOptions* options;
  const ExecImage* image;
  const std::vector<int>* keep_fds;
  volatile int* exec_errno;
  int exec_errno_pipe;
  pid_t parent;
  int cgroup_procs_fd;  ///< Move ourselves there first (no clone3), or -1.
};

[[noreturn]] void ExecChild(const ChildContext& context) {
  const SpawnOptions& options = *context.options;
  const ExecImage& image = *context.image;
  if (context.cgroup_procs_fd >= 0 && write(context.cgroup_procs_fd, "0", 1) != 1) {
    const int saved = errno;
    *context.exec_errno = saved;
    if (context.exec_errno_pipe >= 0) (void)!write(context.exec_errno_pipe, &saved, sizeof saved);
    _exit(127);
  }
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
  if (getppid() != context.parent) _exit(127);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int fd : options.inherit_fds) fcntl(fd, F_SETFD, 0);
  if (options.stdout_fd >= 0) dup2(options.stdout_fd, STDOUT_FILENO);
  if (options.stderr_fd >= 0) dup2(options.stderr_fd, STDERR_FILENO);
  if (options.close_other_fds) CloseAllBut(*context.keep_fds);
  execvpe(image.argv[0], image.argv.data(), image.envp.data());
  // The parent resumes only after our exec or _exit, and shares our memory
  // until then: it reads this once vfork() returns.
  const int saved = errno;
  *context.exec_errno = saved;
  if (context.exec_errno_pipe >= 0) (void)!write(context.exec_errno_pipe, &saved, sizeof saved);
  _exit(127);
}

#ifdef TIERUN_CLONE3_SHARES_MEMORY
constexpr bool kClone3SharesMemory = true;

int ChildMain(void* context) { ExecChild(*static_cast<const ChildContext*>(context)); }

/// The child's stack: one per thread that starts children (the parent thread
/// waits while its child runs on it), with a guard page below.
char* ChildStack(size_t& size) {
  static constexpr size_t kStackSize = 256 * 1024;
  static thread_local char* stack = nullptr;
  if (stack == nullptr) {
    void* mapped = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapped == MAP_FAILED) return nullptr;
    mprotect(mapped, 4096, PROT_NONE);
    stack = static_cast<char*>(mapped);
  }
  size = kStackSize;
  return stack;
}

/// clone3(args); the child calls ChildMain(context) on args->stack and never
/// returns. r8 and r9 survive the syscall in both processes; rcx and r11 do
/// not.
long Clone3Run(struct clone_args* args, void* context) {
  long result;
  register void* function asm("r8") = reinterpret_cast<void*>(&ChildMain);
  register void* argument asm("r9") = context;
  asm volatile(
      "syscall\n\t"
      "testq %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xorl %%ebp, %%ebp\n\t"
      "andq $-16, %%rsp\n\t"
      "movq %%r9, %%rdi\n\t"
      "callq *%%r8\n\t"
      "movl %%eax, %%edi\n\t"
      "movl $60, %%eax\n\t"  // exit(2), should ChildMain ever return.
      "syscall\n\t"
      "hlt\n"
      "1:\n\t"
      : "=a"(result)
      : "0"(static_cast<long>(SYS_clone3)), "D"(args), "S"(sizeof *args), "r"(function),
        "r"(argument)
      : "rcx", "r11", "memory", "cc");
  return result;
}
#else
constexpr bool kClone3SharesMemory = false;
#endif

/// Starts the child inside the cgroup `context.options->cgroup_fd`; -1 with
/// errno, as fork() would. ENOSYS: the kernel has no clone3 (before 5.3) or
/// no CLONE_INTO_CGROUP (before 5.7; it says E2BIG or EINVAL).
pid_t StartInCgroup(const ChildContext& context, int& pidfd) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_INTO_CGROUP | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uintptr_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(context.options->cgroup_fd);
#ifdef TIERUN_CLONE3_SHARES_MEMORY
  size_t stack_size = 0;
  char* stack = ChildStack(stack_size);
  if (stack == nullptr) return -1;
  args.flags |= CLONE_VM | CLONE_VFORK;
  args.stack = reinterpret_cast<uintptr_t>(stack);
  args.stack_size = stack_size;
  const long pid = Clone3Run(&args, const_cast<ChildContext*>(&context));
#else
  const long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) ExecChild(context);
#endif
  if (pid < 0 && (errno == E2BIG || errno == EINVAL)) errno = ENOSYS;
  return static_cast<pid_t>(pid);
}

/// The children Spawn() started and nobody reaped yet.
std::recursive_mutex started_mutex;
std::unordered_set<pid_t> started_pids;

}  // namespace

ChildRegistryLock::ChildRegistryLock() : lock_(started_mutex) {}

void NoteChildStarted(pid_t pid) {
  std::lock_guard<std::recursive_mutex> lock(started_mutex);
  started_pids.insert(pid);
}

void NoteChildReaped(pid_t pid) {
  std::lock_guard<std::recursive_mutex> lock(started_mutex);
  started_pids.erase(pid);
}

bool Subprocess::IsStartedHere(pid_t pid) {
  std::lock_guard<std::recursive_mutex> lock(started_mutex);
  return started_pids.count(pid) != 0;
}

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
  // vfork (or clone3 with CLONE_VM): the child borrows our memory until it
  // execs, so starting an agent copies no page tables (fork's cost grows with
  // our heap). ExecChild only makes syscalls and writes nothing of ours but
  // `exec_errno`; a child that does not share our memory sends it on a pipe.
  const bool in_cgroup = options.cgroup_fd >= 0;
  const bool shares_memory = in_cgroup ? kClone3SharesMemory : kVforkSharesMemory;
  UniqueFd errno_read;
  UniqueFd errno_write;
  // In a cgroup, clone3 may fall back to vfork; a vfork that does not share
  // our memory (ThreadSanitizer) comes with a clone3 that does not either.
  static_assert(kVforkSharesMemory || !kClone3SharesMemory);
  if (!shares_memory) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == -1) return jobserver::SystemError("pipe2");
    errno_read.reset(fds[0]);
    errno_write.reset(fds[1]);
  }
  const std::vector<int> keep_fds = FdsToKeep(options, errno_write.get());
  ChildContext context{&options, &image, &keep_fds, &exec_errno, errno_write.get(), getpid(), -1};
  int clone_pidfd = -1;
  // Until the child is registered, a subreaper's orphan scan on another
  // thread must not look (it would take our child for an orphan).
  const ChildRegistryLock registering;
  pid_t pid = in_cgroup ? StartInCgroup(context, clone_pidfd) : -1;
  UniqueFd procs;
  if (!in_cgroup || (pid == -1 && errno == ENOSYS)) {
    if (in_cgroup) {  // No clone3 into a cgroup: the child moves itself.
      procs.reset(openat(options.cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC));
      if (!procs) return jobserver::SystemError("cannot open cgroup.procs");
      context.cgroup_procs_fd = procs.get();
    }
    pid = vfork();
    if (pid == 0) ExecChild(context);
  }
  if (pid == -1) return jobserver::SystemError(in_cgroup ? "clone3" : "vfork");
  NoteChildStarted(pid);
  if (errno_write) {
    errno_write.reset();  // EOF once the child has exec'd.
    int value = 0;
    if (RetryOnEintr([&] { return read(errno_read.get(), &value, sizeof value); }) ==
        sizeof value) {
      exec_errno = value;
    }
  }
  // No setpgid() here: the child's first call was setpgid(0, 0), and we get
  // here only once it has exec'd or exited, so a signal sent right after
  // Spawn() reaches the group already.
  UniqueFd pidfd(clone_pidfd >= 0 ? clone_pidfd
                                  : static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
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
  if (done == -1 && errno == ECHILD) {
    // Reaped by someone else: it has ended, how is lost. Never spin on it.
    status = SIGKILL;
  } else if (done != pid_) {
    return std::nullopt;
  }
  reaped_ = true;
  NoteChildReaped(pid_);
  return ExitStatus::FromWaitStatus(status);
}

ExitStatus Subprocess::Wait() {
  int status = 0;
  RetryOnEintr([&] { return waitpid(pid_, &status, 0); });
  reaped_ = true;
  NoteChildReaped(pid_);
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
