#pragma once

/// ScopedTempDir: a fresh directory (mkdtemp under $TMPDIR, else /tmp) that is
/// removed with everything in it when the object dies. The prefix may contain
/// blanks, to test paths that MAKEFLAGS must escape.

#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tierun::test {

class ScopedTempDir {
 public:
  explicit ScopedTempDir(std::string_view prefix = "tierun-test-") {
    const char* tmpdir = getenv("TMPDIR");
    std::string pattern = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
    pattern += "/";
    pattern += prefix;
    pattern += "XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      perror(("ScopedTempDir: mkdtemp " + pattern).c_str());
      abort();
    }
    path_ = pattern;
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  /// path()/name
  std::string Child(std::string_view name) const { return path_ + "/" + std::string(name); }

  /// Names of the entries in the directory, sorted; empty when it is empty.
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(path_, ignored)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string path_;
};

}  // namespace tierun::test
