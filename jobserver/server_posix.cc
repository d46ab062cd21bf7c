// The POSIX Server: a FIFO in a private directory or an anonymous pipe,
// filled without blocking and audited without blocking.

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "fifo_cleanup_posix.h"
#include "jobserver/server.h"
#include "jobserver/unique_fd.h"
#include "standard_fds_posix.h"

extern char** environ;

namespace jobserver {

struct Server::State {
  int slots = 0;
  ServerStyle style = ServerStyle::kFifo;
  char token_byte = '+';
  Auth auth;
  std::string dir;    // fifo style: the private directory
  UniqueFd read_fd;   // pipe style: inheritable by children; fifo: ours
  UniqueFd write_fd;  // likewise
  UniqueFd drain_fd;  // a private non-blocking read description
  int cleanup_slot = -1;
  bool shut_down = false;
  Audit audit;
};

namespace {

std::string TempDirectory(const ServerOptions& options) {
  if (!options.tmpdir.empty()) return options.tmpdir;
  const char* tmpdir = getenv("TMPDIR");
  return tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
}

Status SetNonBlocking(int fd, bool on) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags == -1) return SystemError("fcntl(F_GETFL)");
  const int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, wanted) == -1) return SystemError("fcntl(F_SETFL)");
  return {};
}

/// Writes N-1 tokens. The write end must be non-blocking: a pool larger than
/// the pipe buffer fails here instead of hanging (cargo#9739).
Status Fill(int write_fd, int tokens, char byte) {
  const std::string bytes(static_cast<size_t>(tokens), byte);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        RetryOnEintr([&] { return write(write_fd, bytes.data() + done, bytes.size() - done); });
    if (n == -1 && errno == EAGAIN) {
      return Error{ErrorKind::kInvalid, "a pool of " + std::to_string(tokens + 1) +
                                            " slots does not fit in a pipe (" +
                                            std::to_string(done) + " tokens fitted)"};
    }
    if (n == -1) return SystemError("filling the jobserver pool");
    done += static_cast<size_t>(n);
  }
  return {};
}

/// Opens `path` close-on-exec, on an fd above the standard ones: a pool fd
/// that is also stderr would take every line printed as tokens.
Result<UniqueFd> OpenPoolFd(const std::string& path, int flags) {
  UniqueFd fd = internal::AboveStandardFds(
      UniqueFd(RetryOnEintr([&] { return open(path.c_str(), flags | O_CLOEXEC); })));
  if (!fd) return SystemError("open " + path);
  return fd;
}

Status CreateFifo(const ServerOptions& options, Server::State& state) {
  std::string pattern = TempDirectory(options) + "/tierun-jobserver-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    return SystemError("cannot create a private directory from " + pattern);
  }
  state.dir = pattern;  // mkdtemp makes it 0700.
  const std::string path = state.dir + "/fifo";
  state.auth.fifo_path = path;  // From here on Shutdown() removes it.
  if (mkfifo(path.c_str(), 0600) == -1) return SystemError("mkfifo " + path);
  // Read side first and non-blocking, else opening would wait for a writer.
  Result<UniqueFd> read_fd = OpenPoolFd(path, O_RDONLY | O_NONBLOCK);
  if (!read_fd) return read_fd.error();
  state.read_fd = std::move(*read_fd);
  Result<UniqueFd> write_fd = OpenPoolFd(path, O_WRONLY | O_NONBLOCK);
  if (!write_fd) return write_fd.error();
  state.write_fd = std::move(*write_fd);
  state.cleanup_slot = internal::RegisterFifoForCleanup(path.c_str(), state.dir.c_str());
  state.auth.style = AuthStyle::kFifo;
  state.auth.auth_text = "fifo:" + path;
  return Fill(state.write_fd.get(), state.slots - 1, state.token_byte);
}

Status CreatePipe(Server::State& state) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) == -1) return SystemError("pipe2");
  // Children inherit these numbers: never stdin, stdout or stderr.
  state.read_fd = internal::AboveStandardFds(UniqueFd(pipe_fds[0]));
  if (!state.read_fd) return SystemError("moving the pool's read end above fd 2");
  state.write_fd = internal::AboveStandardFds(UniqueFd(pipe_fds[1]));
  if (!state.write_fd) return SystemError("moving the pool's write end above fd 2");
  const int fds[2] = {state.read_fd.get(), state.write_fd.get()};
  const std::string drain_path = "/proc/self/fd/" + std::to_string(fds[0]);
  Result<UniqueFd> drain_fd = OpenPoolFd(drain_path, O_RDONLY | O_NONBLOCK);
  if (!drain_fd) return drain_fd.error();
  state.drain_fd = std::move(*drain_fd);
  state.auth.style = AuthStyle::kPipe;
  state.auth.read_fd = fds[0];
  state.auth.write_fd = fds[1];
  state.auth.auth_text = std::to_string(fds[0]) + "," + std::to_string(fds[1]);
  // Children share this description: make it non-blocking only while filling.
  if (Status s = SetNonBlocking(fds[1], true); !s) return s;
  if (Status s = Fill(fds[1], state.slots - 1, state.token_byte); !s) return s;
  return SetNonBlocking(fds[1], false);
}

/// Reads every byte that is in the pool now, never waiting.
int DrainAvailable(int fd) {
  int count = 0;
  char buffer[4096];
  while (true) {
    const ssize_t n = RetryOnEintr([&] { return read(fd, buffer, sizeof buffer); });
    if (n <= 0) return count;  // EAGAIN: empty now; 0: no writer left.
    count += static_cast<int>(n);
  }
}

/// "GNU Make 4.3" -> {4, 3}; {0, 0} when make is missing or not GNU make.
std::pair<int, int> GnuMakeVersionOnPath() {
  int out[2];
  if (pipe2(out, O_CLOEXEC) == -1) return {0, 0};
  UniqueFd read_end(out[0]);
  UniqueFd write_end(out[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  char* argv[] = {const_cast<char*>("make"), const_cast<char*>("--version"), nullptr};
  pid_t pid = -1;
  const int spawned = posix_spawnp(&pid, "make", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  write_end.reset();
  if (spawned != 0) return {0, 0};
  std::string text;
  char buffer[256];
  ssize_t n;
  while ((n = RetryOnEintr([&] { return read(read_end.get(), buffer, sizeof buffer); })) > 0) {
    text.append(buffer, static_cast<size_t>(n));
  }
  int status = 0;
  RetryOnEintr([&] { return waitpid(pid, &status, 0); });
  int major = 0;
  int minor = 0;
  if (sscanf(text.c_str(), "GNU Make %d.%d", &major, &minor) != 2) return {0, 0};
  return {major, minor};
}

}  // namespace

const char* ServerStyleName(ServerStyle style) {
  switch (style) {
    case ServerStyle::kFifo:
      return "fifo";
    case ServerStyle::kPipe:
      return "pipe";
    case ServerStyle::kAuto:
      return "auto";
  }
  return "?";
}

Result<ServerStyle> ParseServerStyle(std::string_view text) {
  for (ServerStyle style : {ServerStyle::kFifo, ServerStyle::kPipe, ServerStyle::kAuto}) {
    if (text == ServerStyleName(style)) return style;
  }
  return Error{ErrorKind::kInvalid,
               "unknown jobserver style '" + std::string(text) + "' (expected fifo, pipe or auto)"};
}

ServerStyle ResolveAutoStyle() {
  auto [major, minor] = GnuMakeVersionOnPath();
  if (major == 0) return ServerStyle::kFifo;
  const bool reads_fifo = major > 4 || (major == 4 && minor >= 4);
  return reads_fifo ? ServerStyle::kFifo : ServerStyle::kPipe;
}

std::string Audit::Describe() const {
  std::string text =
      std::to_string(returned) + " of " + std::to_string(expected) + " tokens returned";
  if (missing > 0) text += ", " + std::to_string(missing) + " missing";
  if (extra > 0) {
    // Someone wrote tokens nobody read (an agent, or a tool that returns the
    // implicit slot): say so plainly, it is how a limit gets exceeded.
    text += ": the pool held " + std::to_string(extra) + " more token" + (extra == 1 ? "" : "s") +
            " than it gave out";
  }
  return text;
}

Result<Server> Server::Create(const ServerOptions& options) {
  if (options.slots < 1) {
    return Error{ErrorKind::kInvalid,
                 "a pool needs at least 1 slot, got " + std::to_string(options.slots)};
  }
  auto state = std::make_unique<State>();
  state->slots = options.slots;
  state->token_byte = options.token_byte;
  state->style = options.style == ServerStyle::kAuto ? ResolveAutoStyle() : options.style;
  state->auth.job_slots = options.slots;
  Status created =
      state->style == ServerStyle::kFifo ? CreateFifo(options, *state) : CreatePipe(*state);
  Server server(std::move(state));
  if (!created) return created.error();  // ~Server removes what was made.
  return server;
}

Server::Server(std::unique_ptr<State> state) : state_(std::move(state)) {}
Server::Server(Server&&) noexcept = default;
Server& Server::operator=(Server&&) noexcept = default;
Server::~Server() {
  if (state_) Shutdown();
}

int Server::slots() const { return state_->slots; }
ServerStyle Server::style() const { return state_->style; }
const Auth& Server::auth() const { return state_->auth; }

std::string Server::Makeflags() const {
  const Auth& auth = state_->auth;
  const std::string value = auth.style == AuthStyle::kFifo
                                ? "fifo:" + EscapeForMakeflags(auth.fifo_path)
                                : auth.auth_text;
  return " -j" + std::to_string(state_->slots) + " --jobserver-auth=" + value;
}

std::string Server::CargoMakeflags() const {
  const Auth& auth = state_->auth;
  if (auth.style == AuthStyle::kFifo) {
    return "-j --jobserver-auth=fifo:" + EscapeForMakeflags(auth.fifo_path);
  }
  return "-j --jobserver-fds=" + auth.auth_text + " --jobserver-auth=" + auth.auth_text;
}

std::vector<std::pair<std::string, std::string>> Server::ChildEnvironment() const {
  return {{"MAKEFLAGS", Makeflags()}, {"CARGO_MAKEFLAGS", CargoMakeflags()}};
}

std::vector<int> Server::InheritableFds() const {
  if (state_->style != ServerStyle::kPipe) return {};
  return {state_->read_fd.get(), state_->write_fd.get()};
}

Audit Server::Shutdown() {
  State& state = *state_;
  if (state.shut_down) return state.audit;
  state.shut_down = true;
  const int drain = state.drain_fd ? state.drain_fd.get() : state.read_fd.get();
  Audit& audit = state.audit;
  audit.expected = state.slots - 1;
  audit.returned = drain >= 0 ? DrainAvailable(drain) : 0;
  audit.missing = std::max(0, audit.expected - audit.returned);
  audit.extra = std::max(0, audit.returned - audit.expected);
  state.drain_fd.reset();
  state.read_fd.reset();
  state.write_fd.reset();
  if (!state.dir.empty()) {
    unlink(state.auth.fifo_path.c_str());
    rmdir(state.dir.c_str());
    internal::UnregisterFifoForCleanup(state.cleanup_slot);
  }
  return audit;
}

}  // namespace jobserver
