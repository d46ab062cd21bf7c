#pragma once

/// ScopedChild: a real child process that the test owns. It is started either
/// by fork() + execve() of a program (Spawn) or by fork() alone running a
/// lambda (Fork); its stdout is a pipe the test reads with ReadLine(), which is
/// how tests synchronise with it -- never by sleeping. A child still running
/// when the object dies is killed with SIGKILL and reaped.
///
/// Fork() must be called while the test process has a single thread.

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "jobserver/unique_fd.h"

extern char** environ;

namespace tierun::test {

/// One change to a child's environment; a nullopt value unsets the variable.
struct EnvChange {
  std::string name;
  std::optional<std::string> value;
};

/// "exited with status 3", "killed by signal 9".
inline std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

class ScopedChild {
 public:
  /// Runs argv[0] (a path) with this process's environment changed by `env`.
  /// The fds in `inherit` stay open across exec (FD_CLOEXEC is cleared in the
  /// child only); every other fd keeps its own flag.
  static ScopedChild Spawn(const std::vector<std::string>& argv,
                           const std::vector<EnvChange>& env = {},
                           const std::vector<int>& inherit = {}) {
    std::vector<std::string> env_strings = MergedEnvironment(env);
    std::vector<char*> envp;
    for (std::string& entry : env_strings) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = argv;
    std::vector<char*> argp;
    for (std::string& arg : args) argp.push_back(arg.data());
    argp.push_back(nullptr);
    return Fork([&] {
      for (int fd : inherit) fcntl(fd, F_SETFD, 0);
      execve(argp[0], argp.data(), envp.data());
      const char message[] = "ScopedChild: execve failed\n";
      (void)!write(STDERR_FILENO, message, sizeof message - 1);
      return 127;
    });
  }

  /// Forks; the child runs `body` with stdout on the pipe and _exit()s with
  /// its result, so nothing of the parent's (gtest's buffers, atexit) runs.
  static ScopedChild Fork(const std::function<int()>& body) {
    ScopedChild child;
    int out[2];
    if (pipe2(out, O_CLOEXEC) == -1) return child;
    jobserver::UniqueFd read_end(out[0]);
    jobserver::UniqueFd write_end(out[1]);
    fflush(nullptr);
    const pid_t pid = fork();
    if (pid == -1) return child;
    if (pid == 0) {
      dup2(write_end.get(), STDOUT_FILENO);
      _exit(body());
    }
    child.pid_ = pid;
    child.stdout_ = std::move(read_end);
    return child;
  }

  ScopedChild(ScopedChild&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        status_(other.status_),
        stdout_(std::move(other.stdout_)) {}
  ScopedChild& operator=(ScopedChild&&) = delete;
  ~ScopedChild() {
    if (pid_ > 0 && !status_) {
      kill(pid_, SIGKILL);
      Wait();
    }
  }

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  /// The next line the child wrote to stdout, without the newline; what is
  /// left at end-of-file (empty once the child closed stdout).
  std::string ReadLine() {
    std::string line;
    char c;
    while (jobserver::RetryOnEintr([&] { return read(stdout_.get(), &c, 1); }) == 1) {
      if (c == '\n') break;
      line.push_back(c);
    }
    return line;
  }

  /// Waits for the child (once) and returns its wait status.
  int Wait() {
    if (!status_) {
      int status = 0;
      jobserver::RetryOnEintr([&] { return waitpid(pid_, &status, 0); });
      status_ = status;
    }
    return *status_;
  }

 private:
  ScopedChild() = default;

  static std::vector<std::string> MergedEnvironment(const std::vector<EnvChange>& changes) {
    std::vector<std::string> merged;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string text = *entry;
      const std::string name = text.substr(0, text.find('='));
      bool changed = false;
      for (const EnvChange& change : changes) changed = changed || change.name == name;
      if (!changed) merged.push_back(text);
    }
    for (const EnvChange& change : changes) {
      if (change.value) merged.push_back(change.name + "=" + *change.value);
    }
    return merged;
  }

  pid_t pid_ = -1;
  std::optional<int> status_;
  jobserver::UniqueFd stdout_;
};

/// Waits until thread `tid` of process `pid` is asleep ('S' in /proc), i.e.
/// blocked in a system call such as poll(), so that a test can deliver an
/// event after the code under test started waiting for it. Returns false if
/// that did not happen within `max_spins` checks (the thread may be busy-
/// looping, which is a bug the caller should report).
inline bool WaitUntilBlocked(pid_t pid, pid_t tid, long max_spins = 50'000'000) {
  const std::string path =
      "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat";
  for (long spin = 0; spin < max_spins; ++spin) {
    jobserver::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return false;
    char buffer[512];
    const ssize_t n = read(fd.get(), buffer, sizeof buffer - 1);
    if (n <= 0) return false;
    buffer[n] = '\0';
    // "pid (comm) S ...": the state follows the last ')'.
    const char* paren = strrchr(buffer, ')');
    if (paren != nullptr && paren[1] == ' ' && paren[2] == 'S') return true;
    sched_yield();
  }
  return false;
}

}  // namespace tierun::test
