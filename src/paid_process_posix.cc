#include "src/paid_process_posix.h"

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string_view>

#include "src/process_output.h"

namespace tierun {
namespace {

constexpr int kMaxAncestors = 64;

std::string Basename(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string ExecutablePath(pid_t pid) {
  char buffer[PATH_MAX];
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  const ssize_t n = readlink(link.c_str(), buffer, sizeof buffer - 1);
  if (n <= 0) return {};
  std::string path(buffer, static_cast<size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
  return path;
}

/// ctest became a jobserver client in CMake 3.29 ("ctest version 3.29.0").
bool CtestTakesTokens(pid_t pid) {
  const std::string exe = ExecutablePath(pid);
  if (exe.empty()) return false;
  const std::string text = CaptureOutput({exe, "--version"});
  int major = 0;
  int minor = 0;
  if (sscanf(text.c_str(), "ctest version %d.%d", &major, &minor) != 2) return false;
  return major > 3 || (major == 3 && minor >= 29);
}

}  // namespace

std::optional<ProcessInfo> ReadProcessInfo(pid_t pid) {
  std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat_file, line)) return std::nullopt;
  // "pid (comm) state ppid ..." -- comm may hold blanks and parentheses.
  const size_t open = line.find('(');
  const size_t close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcessInfo info;
  info.key.pid = pid;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  rest >> field >> info.parent;  // fields 3 and 4
  for (int index = 5; index <= 22 && rest >> field; ++index) {
    if (index == 22) info.key.start_time = std::stoull(field);
  }
  if (!rest) return std::nullopt;
  const std::string exe = ExecutablePath(pid);
  info.name = exe.empty() ? line.substr(open + 1, close - open - 1) : Basename(exe);
  return info;
}

bool IsPayer(const ProcessInfo& process) {
  static constexpr std::string_view kPayers[] = {"make",  "gmake", "cargo",
                                                 "ninja", "samu",  "tierun"};
  for (std::string_view payer : kPayers) {
    if (process.name == payer) return true;
  }
  return process.name == "ctest" && CtestTakesTokens(process.key.pid);
}

std::optional<ProcessKey> FindPaidProcess(pid_t start) {
  std::optional<ProcessInfo> current = ReadProcessInfo(start);
  for (int depth = 0; current && depth < kMaxAncestors; ++depth) {
    if (current->parent <= 1) return std::nullopt;
    std::optional<ProcessInfo> parent = ReadProcessInfo(current->parent);
    if (!parent) return std::nullopt;
    if (IsPayer(*parent)) return current->key;
    current = std::move(parent);
  }
  return std::nullopt;
}

}  // namespace tierun
