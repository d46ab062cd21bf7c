// Benchmarks of the jobserver hot path (one token out and back) and of what
// `tierun exec` adds to starting a process, in a pool it joins and in one it
// creates. The machines that run these are shared and noisy: bench/run.sh
// reports ratios to BM_SpawnTrue, measured in the same run, not absolute times.

#include <errno.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "jobserver/client.h"
#include "jobserver/error.h"
#include "jobserver/server.h"

extern char** environ;

namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::ServerStyle;
using jobserver::Status;

/// Large enough that TryAcquire() always finds a token.
constexpr int kSlots = 8;
constexpr const char* kTrue = "/bin/true";
constexpr const char* kTierun = TIERUN_PATH;

/// Every variable a jobserver client may read its pool from.
constexpr std::string_view kPoolVariables[] = {"MAKEFLAGS", "MFLAGS", "CARGO_MAKEFLAGS"};

jobserver::Result<jobserver::Server> CreateServer(ServerStyle style) {
  jobserver::ServerOptions options;
  options.slots = kSlots;
  options.style = style;
  return jobserver::Server::Create(options);
}

bool IsPoolVariable(std::string_view entry) {
  for (std::string_view name : kPoolVariables) {
    if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=') {
      return true;
    }
  }
  return false;
}

/// This process's environment without any pool advertised, plus `extra`
/// ("NAME=value" entries), as the NULL-terminated array posix_spawn takes.
/// Not movable: envp() points into the strings.
class ChildEnvironment {
 public:
  explicit ChildEnvironment(std::vector<std::string> extra = {}) : entries_(std::move(extra)) {
    for (char** entry = environ; *entry != nullptr; ++entry) {
      if (!IsPoolVariable(*entry)) entries_.emplace_back(*entry);
    }
    for (std::string& entry : entries_) pointers_.push_back(entry.data());
    pointers_.push_back(nullptr);
  }
  ChildEnvironment(const ChildEnvironment&) = delete;
  ChildEnvironment& operator=(const ChildEnvironment&) = delete;

  char* const* envp() const { return pointers_.data(); }

 private:
  std::vector<std::string> entries_;
  std::vector<char*> pointers_;
};

/// posix_spawn file actions, destroyed with the object.
class ScopedFileActions {
 public:
  ScopedFileActions() { posix_spawn_file_actions_init(&actions_); }
  ScopedFileActions(const ScopedFileActions&) = delete;
  ScopedFileActions& operator=(const ScopedFileActions&) = delete;
  ~ScopedFileActions() { posix_spawn_file_actions_destroy(&actions_); }

  /// Lets the child inherit `fd` under the same number: since glibc 2.29 a
  /// dup2 onto itself clears FD_CLOEXEC in the child only, so the fd never
  /// leaks into processes started elsewhere.
  Status Inherit(int fd) {
    if (const int rc = posix_spawn_file_actions_adddup2(&actions_, fd, fd); rc != 0) {
      return Error{ErrorKind::kSystem,
                   std::string("posix_spawn_file_actions_adddup2: ") + strerror(rc)};
    }
    return {};
  }

  const posix_spawn_file_actions_t* get() const { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

/// "exited with status 3", "killed by signal 9".
std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended with wait status " + std::to_string(status);
}

/// Starts argv[0] and waits for it; an error unless it exited with status 0.
Status SpawnAndWait(char* const argv[], char* const envp[],
                    const posix_spawn_file_actions_t* actions) {
  pid_t pid = -1;
  if (const int rc = posix_spawn(&pid, argv[0], actions, nullptr, argv, envp); rc != 0) {
    return Error{ErrorKind::kSystem, std::string("posix_spawn ") + argv[0] + ": " + strerror(rc)};
  }
  int status = 0;
  while (waitpid(pid, &status, 0) == -1) {
    if (errno != EINTR) return jobserver::SystemError("waitpid");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  return Error{ErrorKind::kSystem, std::string(argv[0]) + " " + DescribeWaitStatus(status)};
}

/// The benchmark loop shared by the spawn benchmarks: one child per iteration.
void SpawnLoop(benchmark::State& state, char* const argv[], const ChildEnvironment& environment,
               const posix_spawn_file_actions_t* actions) {
  for (auto _ : state) {
    if (Status status = SpawnAndWait(argv, environment.envp(), actions); !status) {
      state.SkipWithError(status.error().message.c_str());
      break;
    }
  }
}

/// After the loop: every token must be back in the pool.
void CheckAudit(benchmark::State& state, jobserver::Server& server) {
  const jobserver::Audit audit = server.Shutdown();
  if (!audit.clean() && !state.error_occurred()) {
    const std::string message = "jobserver audit: " + audit.Describe();
    state.SkipWithError(message.c_str());
  }
}

/// One TryAcquire() and one Return(): the cost a client pays per job.
void BM_TryAcquireReturn(benchmark::State& state, ServerStyle style) {
  auto server = CreateServer(style);
  if (!server) {
    state.SkipWithError(server.error().message.c_str());
    return;
  }
  // Tokens only: the implicit slot never touches the pool. (Not a designated
  // initializer: GCC 12 -Wmissing-field-initializers flags the omitted `warn`.)
  jobserver::ClientOptions options;
  options.use_implicit_slot = false;
  auto client = jobserver::Client::Join(server->auth(), options);
  if (!client) {
    state.SkipWithError(client.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    jobserver::Token token = client->TryAcquire();
    if (!token.valid()) {
      state.SkipWithError("TryAcquire() found no token in a pool of 8 slots");
      break;
    }
    token.Return();
  }
  CheckAudit(state, *server);
}
BENCHMARK_CAPTURE(BM_TryAcquireReturn, pipe, ServerStyle::kPipe);
BENCHMARK_CAPTURE(BM_TryAcquireReturn, fifo, ServerStyle::kFifo);

/// The baseline: what starting and reaping any process costs here.
void BM_SpawnTrue(benchmark::State& state) {
  const ChildEnvironment environment;
  char* argv[] = {const_cast<char*>(kTrue), nullptr};
  SpawnLoop(state, argv, environment, nullptr);
}
BENCHMARK(BM_SpawnTrue)->UseRealTime()->Unit(benchmark::kMicrosecond);

/// `tierun exec -- /bin/true`: in a pipe-style pool advertised in MAKEFLAGS
/// (as make <= 4.3 does), or with none advertised, so exec creates its own.
void BM_TierunExecTrue(benchmark::State& state, bool in_pool) {
  std::optional<jobserver::Server> server;
  std::vector<std::string> extra;
  ScopedFileActions actions;
  if (in_pool) {
    auto created = CreateServer(ServerStyle::kPipe);
    if (!created) {
      state.SkipWithError(created.error().message.c_str());
      return;
    }
    server.emplace(std::move(*created));
    extra.push_back("MAKEFLAGS=" + server->Makeflags());
    for (int fd : server->InheritableFds()) {
      if (Status status = actions.Inherit(fd); !status) {
        state.SkipWithError(status.error().message.c_str());
        return;
      }
    }
  }
  const ChildEnvironment environment(std::move(extra));
  char* argv[] = {const_cast<char*>(kTierun), const_cast<char*>("exec"), const_cast<char*>("--"),
                  const_cast<char*>(kTrue), nullptr};
  SpawnLoop(state, argv, environment, actions.get());
  if (server) CheckAudit(state, *server);
}
BENCHMARK_CAPTURE(BM_TierunExecTrue, in_pool, true)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_TierunExecTrue, own_pool, false)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
