#pragma once

/// Sharing one paid process's implicit slot among the `tierun exec`s below it.
///
/// A script paid one slot by make (or by `tierun serve`) may start many
/// `tierun exec` at once. Exactly one of them may run on the script's
/// implicit slot; the others must read tokens. They agree through an
/// open-file-description lock (F_OFD_SETLK) on one byte of a per-user lock
/// file, at an offset derived from (pool, paid process). The kernel drops the
/// lock when its holder exits -- even by SIGKILL -- so the implicit slot can
/// never be lost, and no state is left on disk but one empty file.
///
/// A waiter that found the slot taken watches the pool and, through a small
/// helper process that blocks on the lock, the slot: whichever comes first
/// wins. The helper reports on a pipe, so the wait fits a poll loop.
///
/// With no payer above (the pool's creator is unknown, or the processes it
/// paid for have ended and we were reparented), there is no paid process to
/// share: every tierun of the pool that found none takes turns on the one
/// slot at kNoPaidProcess, as the single implicit slot a top-level make would
/// take. So a pool that is gone, unusable, or drained by a server that has
/// exited still runs one job at a time, never none and never more.

#include <sys/types.h>

#include <string>
#include <string_view>

#include "jobserver/client.h"
#include "jobserver/error.h"
#include "jobserver/makeflags.h"
#include "jobserver/unique_fd.h"
#include "src/paid_process_posix.h"

namespace tierun {

/// The key of the slot that the tierun processes of one pool with no payer
/// above share: no process has pid 0.
inline constexpr ProcessKey kNoPaidProcess{};

/// An identity for a pool that cannot be opened (make closed its fds for a
/// recipe without '+'), derived from how it was advertised: every process
/// that sees the same text gets the same id.
jobserver::PoolId PoolIdFromAdvertisement(std::string_view text);

/// The id of a pool advertised in `env` but unusable: every tierun under a
/// recipe without '+' sees the same variables, hence the same id.
jobserver::PoolId PoolIdOfUnusablePool(const jobserver::MakeflagsEnvironment& env);

class ImplicitSlotClaim {
 public:
  /// Opens the lock file: $XDG_RUNTIME_DIR/tierun or /tmp/tierun-UID, a
  /// directory that must be ours and private.
  static jobserver::Result<ImplicitSlotClaim> Open(jobserver::PoolId pool, ProcessKey paid);

  ImplicitSlotClaim(ImplicitSlotClaim&& other) noexcept;
  ImplicitSlotClaim& operator=(ImplicitSlotClaim&&) = delete;
  ~ImplicitSlotClaim();

  /// Takes the slot if it is free; never blocks.
  bool TryClaim();
  /// Starts the helper that waits for the slot; ready_fd() turns readable
  /// when it holds it (or died).
  jobserver::Status StartWaiting();
  int ready_fd() const { return ready_fd_.get(); }
  /// After ready_fd() turned readable: true when the helper holds the slot.
  bool CollectWaiter();
  bool held() const { return held_; }
  /// True while a helper started by StartWaiting() has not been collected.
  bool waiting() const { return waiter_pid_ > 0 && !held_; }
  /// Gives the slot back (or stops waiting for it); TryClaim() may take it
  /// again.
  void Release();

 private:
  ImplicitSlotClaim(jobserver::UniqueFd lock_fd, std::string lock_path, off_t offset);
  void StopWaiter();

  jobserver::UniqueFd lock_fd_;
  std::string lock_path_;
  off_t offset_ = 0;
  bool held_ = false;
  pid_t waiter_pid_ = -1;
  jobserver::UniqueFd ready_fd_;
  jobserver::UniqueFd control_fd_;
};

}  // namespace tierun
