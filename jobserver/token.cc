#include "jobserver/token.h"

#include <utility>

#include "pool.h"

namespace jobserver {

Token::Token(Token&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), state_(std::exchange(other.state_, kInvalid)) {}

Token& Token::operator=(Token&& other) noexcept {
  if (this != &other) {
    Return();
    pool_ = std::exchange(other.pool_, nullptr);
    state_ = std::exchange(other.state_, kInvalid);
  }
  return *this;
}

void Token::Return() noexcept {
  if (state_ == kInvalid) return;
  if (pool_ != nullptr) pool_->Return(state_);
  state_ = kInvalid;
}

}  // namespace jobserver
