// The POSIX part of the Client: validating what MAKEFLAGS advertises, opening
// private descriptions of the pool, reading and writing token bytes.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>

#include "jobserver/client.h"
#include "pool.h"
#include "standard_fds_posix.h"

namespace jobserver {
namespace {

constexpr const char* kAddPlusHint =
    "mark the make recipe with '+' or use $(MAKE) so make passes its jobserver";

bool IsPoolFileType(mode_t mode) {
  // A pipe or FIFO; CUSE jobservers (Gentoo's steve) are character devices.
  return S_ISFIFO(mode) || S_ISCHR(mode) || S_ISSOCK(mode);
}

Error Unusable(const std::string& message) { return Error{ErrorKind::kUnusable, message}; }

/// Checks an inherited pool fd: above the standard fds, open (F_GETFD) and
/// of a pool file type. A closed fd or one reused for a regular file means
/// the parent did not pass its jobserver to us.
Status CheckInheritedFd(const Auth& auth, int fd) {
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
  if (!IsPoolFileType(st.st_mode)) {
    return Unusable(what + " is not a pipe (the fd number was reused): " + kAddPlusHint);
  }
  return {};
}

/// Opens `path` as a pool fd: close-on-exec, never on a standard fd (see
/// standard_fds_posix.h). Invalid with errno.
UniqueFd OpenPoolFd(const std::string& path, int flags) {
  return internal::AboveStandardFds(
      UniqueFd(RetryOnEintr([&] { return open(path.c_str(), flags | O_CLOEXEC); })));
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
/// a regular file swapped in for the FIFO must not collect our tokens.
UniqueFd OpenFifoWriter(int read_fd, const std::string& path) {
  constexpr int kFlags = O_WRONLY | O_NONBLOCK;
  UniqueFd writer = OpenPoolFd("/proc/self/fd/" + std::to_string(read_fd), kFlags);
  if (writer) return writer;
  writer = OpenPoolFd(path, kFlags);
  struct stat st;
  if (writer && (fstat(writer.get(), &st) == -1 || !IsPoolFileType(st.st_mode))) {
    writer.reset();
    errno = EINVAL;
  }
  return writer;
}

using PoolPtr = std::unique_ptr<internal::Pool>;

}  // namespace

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
    if (Status checked = CheckInheritedFd(auth, fd); !checked) return checked.error();
  }
  Result<UniqueFd> read_fd = ReopenInherited(auth.read_fd, O_RDONLY | O_NONBLOCK);
  if (!read_fd) return read_fd.error();
  Result<UniqueFd> write_fd = ReopenInherited(auth.write_fd, O_WRONLY | O_NONBLOCK);
  if (!write_fd) return write_fd.error();
  return std::make_unique<internal::Pool>(auth, std::move(*read_fd), std::move(*write_fd),
                                          std::move(options));
}

Result<PoolPtr> JoinFifo(const Auth& auth, ClientOptions options) {
  const std::string& path = auth.fifo_path;
  // Looked at before it is opened: MAKEFLAGS is input, and a path it names
  // that is a regular file (or worse) is not ours to open.
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !IsPoolFileType(st.st_mode)) {
    return Unusable("jobserver path " + path + " is not a FIFO");
  }
  // O_NONBLOCK: a blocking open of a FIFO whose server died waits forever.
  UniqueFd read_fd = OpenPoolFd(path, O_RDONLY | O_NONBLOCK);
  if (!read_fd) {
    const int saved_errno = errno;
    return Unusable("cannot open jobserver FIFO " + path + ": " + strerror(saved_errno) +
                    (saved_errno == ENOENT ? " (was it deleted, or its TMPDIR cleaned?)" : ""));
  }
  // And after: it may have been swapped in between.
  if (fstat(read_fd.get(), &st) == -1 || !IsPoolFileType(st.st_mode)) {
    return Unusable("jobserver path " + path + " is not a FIFO");
  }
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
