#pragma once

/// Errors are values in the jobserver library: no exception crosses its API.
///
/// The error *kind* is what callers branch on. Following jobserver-rs, "there is
/// no jobserver here" (kNoJobserver) is a normal outcome, while "a jobserver is
/// advertised but cannot be used" (kUnusable) is a warning the user can act on,
/// typically by marking a make recipe with '+'.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace jobserver {

enum class ErrorKind {
  kNoJobserver,  ///< Nothing advertised: run on the implicit slot, or create a pool.
  kUnusable,     ///< Advertised but unusable (closed fds, missing FIFO, unknown style).
  kInvalid,      ///< Malformed input (MAKEFLAGS, options).
  kSystem,       ///< A system call failed unexpectedly.
  kTimeout,      ///< A deadline passed before a token arrived.
  kCancelled,    ///< The caller's cancel fd became readable.
  kPoolGone,     ///< The pool reached end-of-file: every writer is gone.
};

/// Short lower-case name of a kind, for messages and tests ("unusable").
const char* ErrorKindName(ErrorKind kind);

struct Error {
  ErrorKind kind;
  std::string message;
};

/// Builds an Error of kind kSystem from errno: "<what>: <strerror(errno)>".
Error SystemError(const std::string& what);

/// A value or an Error, in the spirit of std::expected (C++23).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design.
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design.

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(state_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Error> state_;
};

/// Result of an operation that yields nothing but may fail.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit.

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    assert(failed_);
    return error_;
  }

 private:
  Error error_{ErrorKind::kSystem, {}};
  bool failed_ = false;
};

}  // namespace jobserver
