#include "src/paid_process_posix.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include "jobserver/makeflags.h"
#include "src/process_output.h"

namespace tierun {
namespace {

constexpr int kMaxAncestors = 64;

std::string Basename(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string ProcPath(pid_t pid, std::string_view entry) {
  return "/proc/" + std::to_string(pid) + "/" + std::string(entry);
}

std::string ExecutablePath(pid_t pid) {
  char buffer[PATH_MAX];
  const std::string link = ProcPath(pid, "exe");
  const ssize_t n = readlink(link.c_str(), buffer, sizeof buffer - 1);
  if (n <= 0) return {};
  std::string path(buffer, static_cast<size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
  return path;
}

/// The NUL-separated strings of /proc/PID/cmdline or environ; nullopt when
/// the file cannot be read (the process is gone, or another user's).
std::optional<std::vector<std::string>> ReadNulSeparated(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) return std::nullopt;
  std::vector<std::string> words;
  for (size_t start = 0; start < text.size();) {
    const size_t end = std::min(text.find('\0', start), text.size());
    words.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

bool IsFifo(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}

/// Whether `pid` could open the pool `makeflags` advertises: the fds are
/// pipes in *its* table (a pipe is S_IFIFO through /proc/PID/fd), or the
/// FIFO exists, relative paths taken from its working directory.
bool PoolOpenableBy(pid_t pid, const std::string& makeflags) {
  const jobserver::Result<jobserver::Auth> auth = jobserver::ParseMakeflags(makeflags);
  if (!auth) return false;
  switch (auth->style) {
    case jobserver::AuthStyle::kPipe:
      return IsFifo(ProcPath(pid, "fd/" + std::to_string(auth->read_fd))) &&
             IsFifo(ProcPath(pid, "fd/" + std::to_string(auth->write_fd)));
    case jobserver::AuthStyle::kFifo:
      return IsFifo(auth->fifo_path.starts_with('/') ? auth->fifo_path
                                                     : ProcPath(pid, "cwd/" + auth->fifo_path));
    case jobserver::AuthStyle::kNone:
      return false;
  }
  return false;
}

/// True when `letter` is one of ninja's options that take a value
/// (getopt_long's "d:f:j:k:l:nt:vw:C:h").
bool NinjaOptionTakesValue(char letter) {
  return std::string_view("dfjkltwC").find(letter) != std::string_view::npos;
}

/// A `--name` word: --help and --version (or an abbreviation of either, as
/// getopt_long accepts) run no build.
bool NinjaLongOptionRunsNoBuild(std::string_view word) {
  const std::string_view name = word.substr(2, word.find('=') - 2);
  return std::string_view("help").starts_with(name) ||
         std::string_view("version").starts_with(name);
}

}  // namespace

std::optional<ProcessInfo> ReadProcessInfo(pid_t pid) {
  std::ifstream stat_file(ProcPath(pid, "stat"));
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

std::optional<PayerEvidence> ReadPayerEvidence(pid_t pid) {
  std::optional<std::vector<std::string>> argv = ReadNulSeparated(ProcPath(pid, "cmdline"));
  if (!argv) return std::nullopt;
  PayerEvidence evidence;
  if (!argv->empty()) evidence.args.assign(argv->begin() + 1, argv->end());
  constexpr std::string_view kMakeflags = "MAKEFLAGS=";
  // Unreadable (another user's, or not dumpable): no MAKEFLAGS, so no client.
  const auto environment = ReadNulSeparated(ProcPath(pid, "environ"));
  for (const std::string& entry : environment.value_or(std::vector<std::string>{})) {
    if (entry.starts_with(kMakeflags)) evidence.makeflags = entry.substr(kMakeflags.size());
  }
  evidence.pool_openable = evidence.makeflags && PoolOpenableBy(pid, *evidence.makeflags);
  return evidence;
}

bool NinjaArgumentsAllowJobserver(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--") return true;  // Only targets follow.
    if (word.starts_with("--")) {
      if (NinjaLongOptionRunsNoBuild(word)) return false;
      continue;  // --verbose, --quiet
    }
    if (word.size() < 2 || word[0] != '-') continue;  // A target (getopt permutes).
    for (size_t at = 1; at < word.size(); ++at) {
      const char letter = word[at];
      // -j disables the client whatever its value; -n and -t run no build.
      if (letter == 'j' || letter == 'n' || letter == 't' || letter == 'h') return false;
      if (NinjaOptionTakesValue(letter)) {
        if (at + 1 == word.size()) ++i;  // The value is the next word.
        break;
      }
      if (letter != 'v') return false;  // Unknown: ninja stops with its usage.
    }
  }
  return true;
}

bool ClientPaysItsChildren(std::string_view name, const PayerEvidence& evidence) {
  if (!evidence.makeflags || !evidence.pool_openable) return false;
  const jobserver::Result<jobserver::Auth> auth = jobserver::ParseMakeflags(*evidence.makeflags);
  if (!auth || auth->disabled) return false;
  // ctest reads no flag letters: it joins under make -n too.
  if (name == "ctest") return auth->style != jobserver::AuthStyle::kNone;
  if (name == "ninja") {
    return auth->style == jobserver::AuthStyle::kFifo && !auth->dry_run &&
           NinjaArgumentsAllowJobserver(evidence.args);
  }
  return false;
}

bool IsPayer(const ProcessInfo& process, Payers payers) {
  static constexpr std::string_view kPoolCreators[] = {"make", "gmake", "cargo", "tierun"};
  for (std::string_view payer : kPoolCreators) {
    if (process.name == payer) return true;
  }
  if (payers == Payers::kPoolCreators) return false;
  if (process.name != "ctest" && process.name != "ninja") return false;
  const std::optional<PayerEvidence> evidence = ReadPayerEvidence(process.key.pid);
  if (!evidence || !ClientPaysItsChildren(process.name, *evidence)) return false;
  // Only now the version, which costs a run of the program: the first
  // versions that are jobserver clients are ctest 3.29 and ninja 1.13.
  const std::string exe = ExecutablePath(process.key.pid);
  if (process.name == "ctest") return ProgramVersionAtLeast(exe, "ctest version ", 3, 29);
  return ProgramVersionAtLeast(exe, "", 1, 13);
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

bool ProgramVersionAtLeast(const std::string& executable, std::string_view prefix, int major,
                           int minor) {
  if (executable.empty()) return false;
  const std::string text = CaptureOutput({executable, "--version"});
  int found_major = 0;
  int found_minor = 0;
  const std::string format = std::string(prefix) + "%d.%d";
  if (sscanf(text.c_str(), format.c_str(), &found_major, &found_minor) != 2) return false;
  return found_major > major || (found_major == major && found_minor >= minor);
}

std::string FindProgram(const std::string& program) {
  if (program.empty() || program.find('/') != std::string::npos) return program;
  const char* path = getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    const std::string candidate = (dir.empty() ? "." : std::string(dir)) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) return {};
    dirs.remove_prefix(colon + 1);
  }
}

}  // namespace tierun
