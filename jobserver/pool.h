#pragma once

/// Internal: the open pool behind a Client, which its Tokens point to. Kept
/// at a stable address (the Client holds it by unique_ptr) so that moving a
/// Client never invalidates its Tokens.

#include <functional>
#include <string>

#include "jobserver/client.h"
#include "jobserver/makeflags.h"
#include "jobserver/token.h"
#include "jobserver/unique_fd.h"

namespace jobserver::internal {

class Pool {
 public:
  Pool(Auth auth, UniqueFd read_fd, UniqueFd write_fd, ClientOptions options);

  int read_fd() const { return read_fd_.get(); }
  const Auth& auth() const { return auth_; }
  PoolId id() const { return id_; }
  bool gone() const { return gone_; }

  Token TryAcquire() noexcept;
  /// Gives a slot back; called by Token.
  void Return(int16_t state) noexcept;

 private:
  Token TakeImplicit() noexcept;
  void MarkGone(const char* why) noexcept;
  /// "tierun: warning: WHAT; DETAIL" through ClientOptions::warn.
  void Warn(const char* what, const char* detail) noexcept;

  Auth auth_;
  UniqueFd read_fd_;
  UniqueFd write_fd_;  ///< Pipe style only.
  /// FIFO style: opened at the first return (through our read end, so a
  /// deleted path does not lose the token) and kept while tokens come and
  /// go, closed as soon as we are about to wait. A writer of ours would hide
  /// the end of file that says the server is gone, but only a waiting client
  /// needs to see it.
  UniqueFd fifo_writer_;
  ClientOptions options_;
  PoolId id_;
  bool implicit_free_;
  bool gone_ = false;
  int outstanding_tokens_ = 0;
};

}  // namespace jobserver::internal
