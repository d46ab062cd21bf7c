#pragma once

/// One job slot, held for as long as the Token lives.
///
/// A slot is either the *implicit* slot -- every process started by a
/// jobserver-aware parent owns one without asking, and it is never written to
/// the pool -- or an *explicit* token: one byte read from the pool. The GNU
/// make manual (node "POSIX Jobserver") asks clients to "write back the same
/// character you read", since bytes can carry meaning (BSD make uses '+', 'E'
/// and 'I'), so a Token remembers its byte and writes exactly that byte back
/// when it is returned or destroyed.
///
/// Tokens are move-only; the Client that handed one out must outlive it.

#include <cstdint>

namespace jobserver {

namespace internal {
class Pool;
}  // namespace internal

class Token {
 public:
  /// An invalid token: holds no slot.
  Token() = default;
  Token(Token&& other) noexcept;
  Token& operator=(Token&& other) noexcept;
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;
  ~Token() { Return(); }

  bool valid() const { return state_ != kInvalid; }
  bool implicit() const { return state_ == kImplicit; }
  /// The byte read from the pool; only for explicit tokens.
  unsigned char byte() const { return static_cast<unsigned char>(state_); }

  /// Gives the slot back: writes the byte for an explicit token, marks the
  /// implicit slot free for an implicit one. Afterwards the token is invalid.
  void Return() noexcept;

  /// Forgets the slot without giving it back (for a token handed to another
  /// process, which will return it itself).
  void Release() noexcept { state_ = kInvalid; }

 private:
  friend class internal::Pool;
  static constexpr int16_t kInvalid = -1;
  static constexpr int16_t kImplicit = 256;

  Token(internal::Pool* pool, int16_t state) : pool_(pool), state_(state) {}

  internal::Pool* pool_ = nullptr;
  /// kInvalid, kImplicit or the byte (0..255): int16_t holds all three.
  int16_t state_ = kInvalid;
};

}  // namespace jobserver
