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

/// True when the program behind `pid` prints a version of at least
/// major.minor for `--version`, after `prefix` ("ctest version 3.29.0",
/// "1.13.0" for ninja).
bool VersionAtLeast(pid_t pid, const char* prefix, int major, int minor) {
  const std::string exe = ExecutablePath(pid);
  if (exe.empty()) return false;
  const std::string text = CaptureOutput({exe, "--version"});
  int found_major = 0;
  int found_minor = 0;
  const std::string format = std::string(prefix) + "%d.%d";
  if (sscanf(text.c_str(), format.c_str(), &found_major, &found_minor) != 2) return false;
  return found_major > major || (found_major == major && found_minor >= minor);
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

bool IsPayer(const ProcessInfo& process, Payers payers) {
  static constexpr std::string_view kPoolCreators[] = {"make", "gmake", "cargo", "tierun"};
  for (std::string_view payer : kPoolCreators) {
    if (process.name == payer) return true;
  }
  if (payers == Payers::kPoolCreators) return false;
  // Jobserver clients only from these versions on: ctest 3.29, ninja 1.13.
  if (process.name == "ctest") return VersionAtLeast(process.key.pid, "ctest version ", 3, 29);
  if (process.name == "ninja") return VersionAtLeast(process.key.pid, "", 1, 13);
  return false;
}

std::optional<ProcessKey> FindPaidProcess(pid_t start, Payers payers) {
  std::optional<ProcessInfo> current = ReadProcessInfo(start);
  for (int depth = 0; current && depth < kMaxAncestors; ++depth) {
    // pid 1 can be a payer too: `make -j4` as a container's entry point.
    if (current->parent <= 0) return std::nullopt;
    std::optional<ProcessInfo> parent = ReadProcessInfo(current->parent);
    if (!parent) return std::nullopt;
    if (IsPayer(*parent, payers)) return current->key;
    current = std::move(parent);
  }
  return std::nullopt;
}

}  // namespace tierun
