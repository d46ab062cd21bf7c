// The POSIX part of the Client: validating what MAKEFLAGS advertises, opening
// private descriptions of the pool, reading and writing token bytes.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jobserver/client.h"
#include "pool.h"
#include "standard_fds_posix.h"

namespace jobserver {
namespace {

constexpr const char* kAddPlusHint =
    "mark the make recipe with '+' or use $(MAKE) so make passes its jobserver";

constexpr const char* kKnownDevices =
    "known jobserver devices: /dev/steve and those listed in TIERUN_JOBSERVER_DEVICES";

Error Unusable(const std::string& message) { return Error{ErrorKind::kUnusable, message}; }

/// True when `rdev` is the device of one of the character devices at `paths`.
bool IsKnownDevice(dev_t rdev, const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == rdev) return true;
  }
  return false;
}

/// A pipe, FIFO or socket, or a character device the options name as a pool.
/// Only named devices: a terminal gives a keystroke as a token, /dev/zero
/// endless tokens, and opening some devices is an act (a watchdog arms).
bool IsPoolFile(const struct stat& st, const ClientOptions& options) {
  if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) return true;
  return S_ISCHR(st.st_mode) && IsKnownDevice(st.st_rdev, options.jobserver_devices);
}

/// What /proc says fd is open on ("/dev/pts/3"), for messages.
std::string FdTarget(int fd) {
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  char target[4096];
  const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : "an unknown file";
}

/// Why an inherited fd of the file type in `st` is not a pool.
std::string WhyNotAPool(int fd, const struct stat& st) {
  if (isatty(fd)) return "is a terminal (" + FdTarget(fd) + "), not a jobserver pool";
  if (S_ISCHR(st.st_mode)) {
    return "is the character device " + FdTarget(fd) + ", not a jobserver pool (" + kKnownDevices +
           ")";
  }
  return "is not a pipe (the fd number was reused)";
}

/// Checks an inherited pool fd: above the standard fds, open (F_GETFD) and of
/// a pool file type. A closed fd or one reused for a regular file, a terminal
/// or a device means the parent did not pass its jobserver to us.
Status CheckInheritedFd(const Auth& auth, int fd, const ClientOptions& options) {
  const std::string where = auth.variable.empty() ? "MAKEFLAGS" : auth.variable;
  const std::string what =
      "jobserver fd " + std::to_string(fd) + " from " + where + " (" + auth.auth_text + ")";
  if (internal::IsStandardFd(fd)) {
    // Whatever reads or writes it would take or add tokens.
    return Unusable(what + " is " + internal::StandardFdName(fd) +
                    ", not a jobserver pool (the pool's creator ran with it closed)");
  }
  if (fcntl(fd, F_GETFD) == -1) return Unusable(what + " is not open: " + kAddPlusHint);
  struct stat st;
  if (fstat(fd, &st) == -1) return Unusable(what + " cannot be examined: " + kAddPlusHint);
  if (!IsPoolFile(st, options)) {
    return Unusable(what + " " + WhyNotAPool(fd, st) + ": " + kAddPlusHint);
  }
  return {};
}

/// Opens `path` as a pool fd: close-on-exec, never a controlling terminal,
/// never on a standard fd (see standard_fds_posix.h). Invalid with errno.
UniqueFd OpenPoolFd(const std::string& path, int flags) {
  return internal::AboveStandardFds(
      UniqueFd(RetryOnEintr([&] { return open(path.c_str(), flags | O_CLOEXEC | O_NOCTTY); })));
}

/// Opens a private description of an inherited pipe end, so that O_NONBLOCK
/// is ours alone. Linux only: /proc/self/fd/N opens the pipe anew.
Result<UniqueFd> ReopenInherited(int fd, int flags) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  UniqueFd reopened = OpenPoolFd(path, flags);
  if (!reopened) return SystemError("cannot reopen jobserver fd through " + path);
  return reopened;
}

/// A write end of the FIFO that `read_fd` reads, to give tokens back.
/// Opened through /proc/self/fd/N, it is the FIFO we joined even when its
/// path was deleted (the pool lives on while its server holds it open) or
/// another file was put there. Where /proc is missing, the path, checked:
/// only the very file we read from may collect our tokens.
UniqueFd OpenFifoWriter(int read_fd, const std::string& path) {
  constexpr int kFlags = O_WRONLY | O_NONBLOCK;
  UniqueFd writer = OpenPoolFd("/proc/self/fd/" + std::to_string(read_fd), kFlags);
  if (writer) return writer;
  struct stat ours;
  struct stat theirs;
  auto same_file = [&] { return ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino; };
  // Looked at before it is opened too: opening a device can be an act.
  if (fstat(read_fd, &ours) == 0 && stat(path.c_str(), &theirs) == 0 && same_file()) {
    writer = OpenPoolFd(path, kFlags);
    if (writer && fstat(writer.get(), &theirs) == 0 && same_file()) return writer;
  }
  errno = EINVAL;
  return UniqueFd();
}

using PoolPtr = std::unique_ptr<internal::Pool>;

}  // namespace

std::vector<std::string> KnownJobserverDevices() {
  std::vector<std::string> devices = {"/dev/steve"};
  const char* listed = getenv("TIERUN_JOBSERVER_DEVICES");
  std::string_view rest = listed != nullptr ? listed : "";
  while (!rest.empty()) {
    const size_t colon = std::min(rest.find(':'), rest.size());
    if (colon > 0) devices.emplace_back(rest.substr(0, colon));
    rest.remove_prefix(std::min(colon + 1, rest.size()));
  }
  return devices;
}

namespace internal {

Pool::Pool(Auth auth, UniqueFd read_fd, UniqueFd write_fd, ClientOptions options)
    : auth_(std::move(auth)),
      read_fd_(std::move(read_fd)),
      write_fd_(std::move(write_fd)),
      options_(std::move(options)),
      implicit_free_(options_.use_implicit_slot) {
  struct stat st;
  if (fstat(read_fd_.get(), &st) == 0) id_ = PoolId{st.st_dev, st.st_ino};
  if (!options_.warn) {
    options_.warn = [](const std::string& line) { fprintf(stderr, "%s\n", line.c_str()); };
  }
}

Token Pool::TakeImplicit() noexcept {
  if (!implicit_free_) return Token();
  implicit_free_ = false;
  return Token(this, Token::kImplicit);
}

Token Pool::TryAcquire() noexcept {
  // The implicit slot first: it costs no system call (GNU make, job.c).
  if (Token implicit = TakeImplicit(); implicit.valid()) return implicit;
  if (gone_) return Token();
  unsigned char byte = 0;
  const ssize_t n = RetryOnEintr([&] { return read(read_fd_.get(), &byte, 1); });
  if (n == 1) {
    ++outstanding_tokens_;
    return Token(this, byte);
  }
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
    MarkGone(n == 0 ? "the jobserver pool was closed (end of file)"
                    : "reading the jobserver pool failed");
    return TakeImplicit();  // The one slot a gone pool may leave us.
  }
  // EAGAIN: empty, or another client sniped the token poll() announced.
  // The caller waits next: with no writer of ours, a dead server's FIFO
  // reads as end of file.
  fifo_writer_.reset();
  return Token();
}

void Pool::Return(int16_t state) noexcept {
  if (state == Token::kImplicit) {
    implicit_free_ = true;
    return;
  }
  --outstanding_tokens_;
  const unsigned char byte = static_cast<unsigned char>(state);
  if (!write_fd_ && !fifo_writer_) fifo_writer_ = OpenFifoWriter(read_fd_.get(), auth_.fifo_path);
  const int fd = write_fd_ ? write_fd_.get() : fifo_writer_.get();
  const ssize_t n = fd < 0 ? -1 : RetryOnEintr([&] { return write(fd, &byte, 1); });
  if (n != 1) Warn("could not return a jobserver token", n == 0 ? "short write" : strerror(errno));
}

void Pool::MarkGone(const char* why) noexcept {
  if (gone_) return;
  gone_ = true;
  if (!options_.use_implicit_slot && options_.one_slot_when_gone) {
    // Free unless a token of it is out; Return() frees it then.
    implicit_free_ = true;
    Warn(why, "continuing one job at a time");
    return;
  }
  Warn(why, "continuing with the implicit slot only");
}

void Pool::Warn(const char* what, const char* detail) noexcept {
  try {
    options_.warn(std::string("tierun: warning: ") + what + "; " + detail);
  } catch (...) {
    // Out of memory while warning: the warning is what we can lose.
  }
}

}  // namespace internal

namespace {

Result<PoolPtr> JoinPipe(const Auth& auth, ClientOptions options) {
  for (int fd : {auth.read_fd, auth.write_fd}) {
    if (Status checked = CheckInheritedFd(auth, fd, options); !checked) return checked.error();
  }
  Result<UniqueFd> read_fd = ReopenInherited(auth.read_fd, O_RDONLY | O_NONBLOCK);
  if (!read_fd) return read_fd.error();
  Result<UniqueFd> write_fd = ReopenInherited(auth.write_fd, O_WRONLY | O_NONBLOCK);
  if (!write_fd) return write_fd.error();
  return std::make_unique<internal::Pool>(auth, std::move(*read_fd), std::move(*write_fd),
                                          std::move(options));
}

/// Why the file at a `fifo:` path (of type `st`) is not a pool.
Error NotAFifo(const std::string& path, const struct stat& st) {
  if (S_ISCHR(st.st_mode)) {
    return Unusable("jobserver path " + path +
                    " is a character device, not a FIFO or a known jobserver device (" +
                    kKnownDevices + ")");
  }
  return Unusable("jobserver path " + path + " is not a FIFO");
}

Result<PoolPtr> JoinFifo(const Auth& auth, ClientOptions options) {
  const std::string& path = auth.fifo_path;
  // Looked at before it is opened: MAKEFLAGS is input, and a path it names
  // that is a regular file or an unknown device is not ours to open.
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !IsPoolFile(st, options)) return NotAFifo(path, st);
  // O_NONBLOCK: a blocking open of a FIFO whose server died waits forever.
  UniqueFd read_fd = OpenPoolFd(path, O_RDONLY | O_NONBLOCK);
  if (!read_fd) {
    const int saved_errno = errno;
    return Unusable("cannot open jobserver FIFO " + path + ": " + strerror(saved_errno) +
                    (saved_errno == ENOENT ? " (was it deleted, or its TMPDIR cleaned?)" : ""));
  }
  // And after: it may have been swapped in between.
  if (fstat(read_fd.get(), &st) == -1) return SystemError("fstat " + path);
  if (!IsPoolFile(st, options)) return NotAFifo(path, st);
  // No write end yet: Pool::Return opens one when it first gives a token back.
  return std::make_unique<internal::Pool>(auth, std::move(read_fd), UniqueFd(), std::move(options));
}

}  // namespace

Result<Client> Client::Join(const Auth& auth, ClientOptions options) {
  if (auth.style != AuthStyle::kNone) {
    Result<PoolPtr> pool = auth.style == AuthStyle::kPipe ? JoinPipe(auth, std::move(options))
                                                          : JoinFifo(auth, std::move(options));
    if (!pool) return pool.error();
    return Client(std::move(*pool));
  }
  if (auth.disabled) {
    return Unusable("the jobserver in " + auth.variable + " is disabled for this process (" +
                    auth.auth_text + "): " + kAddPlusHint);
  }
  return Error{ErrorKind::kNoJobserver, "no jobserver in the environment"};
}

Result<Client> Client::FromEnvironment(ClientOptions options) {
  Result<Auth> auth = ChooseAuth(MakeflagsEnvironment::FromProcess());
  if (!auth) return auth.error();
  return Join(*auth, std::move(options));
}

Client::Client(std::unique_ptr<internal::Pool> pool) : pool_(std::move(pool)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

int Client::readiness_fd() const { return pool_->read_fd(); }
Token Client::TryAcquire() noexcept { return pool_->TryAcquire(); }
bool Client::pool_gone() const { return pool_->gone(); }
const Auth& Client::auth() const { return pool_->auth(); }
PoolId Client::pool_id() const { return pool_->id(); }

Result<Token> Client::Acquire(Clock::time_point deadline, int cancel_fd) {
  while (true) {
    Token token = TryAcquire();
    if (token.valid()) return token;
    if (pool_gone()) return Error{ErrorKind::kPoolGone, "the jobserver pool is gone"};
    struct pollfd fds[2] = {{pool_->read_fd(), POLLIN, 0}, {cancel_fd, POLLIN, 0}};
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Error{ErrorKind::kTimeout, "no jobserver token before deadline"};
    const int timeout_ms = static_cast<int>(std::min<int64_t>(left.count(), 1 << 30));
    const int ready = poll(fds, cancel_fd >= 0 ? 2 : 1, timeout_ms);
    if (ready == -1 && errno != EINTR) return SystemError("poll on the jobserver");
    if (cancel_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
      return Error{ErrorKind::kCancelled, "waiting for a jobserver token was cancelled"};
    }
  }
}

}  // namespace jobserver
