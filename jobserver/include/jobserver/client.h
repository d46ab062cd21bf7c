#pragma once

/// Joining a jobserver pool that a parent (make, cargo, ctest, tierun) created.
///
/// How it works:
///  1. Establishment. The parent advertises the pool in MAKEFLAGS (see
///     makeflags.h). Join() validates what is advertised -- the fds must be
///     open, above 2, and pipes, FIFOs or sockets; the FIFO must exist and be
///     one -- and opens a *private* open file description for reading, so
///     setting O_NONBLOCK never changes the mode another process sees (make
///     <= 4.2 dies on EAGAIN; see docs/design.md section 2). On
///     Linux a pipe is reopened through /proc/self/fd/N; a FIFO is opened by
///     path. The client's own fds never land on 0-2, even in a process that
///     runs with them closed: a pool on stderr takes every line as tokens.
///  2. The implicit slot. The parent paid for this process before starting it,
///     so one job can always run without asking. TryAcquire() hands that slot
///     out first (unless ClientOptions::use_implicit_slot is false) and it is
///     never written to the pool.
///  3. Explicit tokens. Each further job needs one byte read from the pool; the
///     byte goes back when the Token is destroyed -- to a FIFO through a write
///     end opened from our read end, so the FIFO's path deleted mid-run (a
///     cleaned TMPDIR) loses no token.
///
/// Character devices. One is a pool only when it is a known jobserver device
/// (ClientOptions::jobserver_devices: Gentoo's CUSE jobserver /dev/steve and
/// those listed in TIERUN_JOBSERVER_DEVICES), matched by device number. Any
/// other -- a terminal hands out keystrokes as tokens, /dev/zero endless
/// tokens, /dev/null none -- is kUnusable with a message that says what it
/// is, and is never read (nor opened, when named by a `fifo:` path).
///
/// Worked example: under `make -j8` a recipe that runs a tool built on this
/// client gets its implicit slot plus up to 7 tokens, so it runs at most 8 jobs
/// -- and fewer when make's other recipes hold tokens.
///
/// Reads treat EAGAIN as "sniped by another client, wait again", retry EINTR,
/// and treat end-of-file as "the pool is gone": the client then says so once
/// through ClientOptions::warn and carries on with the implicit slot alone.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "jobserver/error.h"
#include "jobserver/makeflags.h"
#include "jobserver/token.h"

namespace jobserver {

/// The character devices accepted as pools: /dev/steve (Gentoo's CUSE
/// jobserver, "steve") and the paths in TIERUN_JOBSERVER_DEVICES, separated by
/// ':'. Read from the environment when called.
std::vector<std::string> KnownJobserverDevices();

struct ClientOptions {
  /// Hand out the implicit slot before reading tokens. A process that
  /// accounts for its implicit slot itself (tierun exec) turns this off.
  bool use_implicit_slot = true;
  /// Without use_implicit_slot: once the pool is gone (end of file), hand out
  /// one slot as if it were implicit, and so go on one job at a time, as GNU
  /// make does with a broken jobserver. For a single process that no parent
  /// pays for (tierun run under a plain script); never for one of many
  /// processes that each would take such a slot (tierun exec).
  bool one_slot_when_gone = false;
  /// Receives warnings (one line, no newline). Default: stderr.
  std::function<void(const std::string&)> warn;
  /// Character devices that are pools, matched by device number. Any other
  /// character device -- a terminal, /dev/null, /dev/zero -- is refused.
  std::vector<std::string> jobserver_devices = KnownJobserverDevices();
};

/// Identifies a pool across processes: the device and inode of its read end.
struct PoolId {
  dev_t device = 0;
  ino_t inode = 0;
  bool operator==(const PoolId&) const = default;
};

class Client {
 public:
  using Clock = std::chrono::steady_clock;

  /// Joins the pool `auth` describes. Errors: kNoJobserver when auth has no
  /// pool, kUnusable when it cannot be used (the message says what to do).
  static Result<Client> Join(const Auth& auth, ClientOptions options = {});

  /// ChooseAuth(MakeflagsEnvironment::FromProcess()) then Join().
  static Result<Client> FromEnvironment(ClientOptions options = {});

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  /// Readable when a token may be available (or the pool reached EOF): for
  /// the caller's poll/epoll loop, followed by TryAcquire().
  int readiness_fd() const;

  /// A slot now, or an invalid Token when none is free. Never blocks.
  Token TryAcquire() noexcept;

  /// Waits for a slot until `deadline`. Errors: kTimeout, kCancelled (when
  /// `cancel_fd` >= 0 became readable), kPoolGone (EOF and no implicit slot).
  Result<Token> Acquire(Clock::time_point deadline, int cancel_fd = -1);

  /// True once the pool reached end-of-file.
  bool pool_gone() const;

  const Auth& auth() const;
  PoolId pool_id() const;

 private:
  explicit Client(std::unique_ptr<internal::Pool> pool);
  std::unique_ptr<internal::Pool> pool_;
};

}  // namespace jobserver
