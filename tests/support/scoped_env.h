#pragma once

/// ScopedEnv: sets or unsets one environment variable for the lifetime of the
/// object and restores what was there before, so that a test of code reading
/// MAKEFLAGS, PATH or TMPDIR never leaks its environment into the next test.

#include <stdlib.h>

#include <optional>
#include <string>
#include <utility>

namespace tierun::test {

class ScopedEnv {
 public:
  /// Sets `name` to `value`; a null `value` unsets it.
  ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
    if (const char* old = getenv(name_.c_str())) old_ = old;
    Set(value);
  }
  ScopedEnv(std::string name, const std::string& value)
      : ScopedEnv(std::move(name), value.c_str()) {}
  ~ScopedEnv() { Set(old_ ? old_->c_str() : nullptr); }

  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  void Set(const char* value) {
    if (value != nullptr) {
      setenv(name_.c_str(), value, 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace tierun::test
