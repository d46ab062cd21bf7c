/// tierun-probe: a test agent that records when it ran.
///
///   tierun-probe --log FILE --id ID [--hold-ms N] [--notify PATH] [--gate FIFO]
///                [--ignore-sigterm] [--exit CODE]
///
/// It appends `begin ID PID NS` to FILE, holds for N ms (default 50; -1 holds
/// until killed), appends `end ID PID NS` and exits with CODE (default 0). Each
/// record is one write() under flock(LOCK_EX), which makes the file order a
/// valid linearisation for the verifier (tests/tools/concurrency_log.h).
///
/// Synchronisation for tests, never by sleeping:
///  - `--notify PATH`: after `begin` is logged, write "ID\n" to PATH (a FIFO or
///    file the test created). A write this short to a FIFO is atomic, so many
///    probes may share one FIFO.
///  - `--gate FIFO`: after notifying, block until FIFO reaches end-of-file, that
///    is until the test closes the write end it holds; then hold. With both, a
///    test can have every probe begin before any ends, so reaching the limit is
///    deterministic.
///
/// Exit status: CODE; 2 for a usage error; 1 when the probe itself fails (the
/// log, notify path or gate cannot be used).

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "jobserver/error.h"
#include "jobserver/unique_fd.h"

namespace {

using jobserver::RetryOnEintr;
using jobserver::Status;
using jobserver::SystemError;
using jobserver::UniqueFd;

constexpr int kFailureExit = 1;
constexpr int kUsageExit = 2;
constexpr char kUsage[] =
    "usage: tierun-probe --log FILE --id ID [--hold-ms N] [--notify PATH] [--gate FIFO] "
    "[--ignore-sigterm] [--exit CODE]\n";

struct ProbeOptions {
  std::string log;
  std::string id;
  int hold_ms = 50;
  std::optional<std::string> notify;
  std::optional<std::string> gate;
  bool ignore_sigterm = false;
  int exit_code = 0;
};

bool ParseInt(std::string_view text, int* value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return !text.empty() && ec == std::errc() && ptr == end;
}

// The log is split on blanks, so an ID must be one non-empty word.
bool IsValidId(std::string_view id) {
  return !id.empty() && id.find_first_of(" \t\r\n") == std::string_view::npos;
}

// Checks the values once every option is read; returns an error or "".
std::string ValidateOptions(const ProbeOptions& options) {
  if (options.log.empty()) return "--log is required";
  if (!IsValidId(options.id)) return "--id is required and must be one word";
  if (options.hold_ms < -1) return "--hold-ms must be -1 (until killed) or at least 0";
  if (options.exit_code < 0 || options.exit_code > 255) return "--exit must be 0..255";
  return "";
}

// Returns the options, or nullopt after printing why they are wrong.
std::optional<ProbeOptions> ParseArgs(int argc, char** argv) {
  ProbeOptions options;
  std::string error;
  for (int i = 1; i < argc && error.empty(); ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--ignore-sigterm") {
      options.ignore_sigterm = true;
    } else if (arg == "--log" && has_value) {
      options.log = argv[++i];
    } else if (arg == "--id" && has_value) {
      options.id = argv[++i];
    } else if (arg == "--notify" && has_value) {
      options.notify = argv[++i];
    } else if (arg == "--gate" && has_value) {
      options.gate = argv[++i];
    } else if (arg == "--hold-ms" && has_value) {
      if (!ParseInt(argv[++i], &options.hold_ms)) error = "bad --hold-ms: " + std::string(argv[i]);
    } else if (arg == "--exit" && has_value) {
      if (!ParseInt(argv[++i], &options.exit_code)) error = "bad --exit: " + std::string(argv[i]);
    } else {
      error = "unknown or incomplete option: " + std::string(arg);
    }
  }
  if (error.empty()) error = ValidateOptions(options);
  if (error.empty()) return options;
  std::fprintf(stderr, "tierun-probe: %s\n%s", error.c_str(), kUsage);
  return std::nullopt;
}

std::int64_t MonotonicNs() {
  timespec now;
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// Writes `data` with a single write(): a record split over two writes could
// interleave with another probe's, and a short FIFO write must stay atomic.
Status WriteWhole(int fd, const std::string& data, const std::string& what) {
  const ssize_t n = RetryOnEintr([&] { return ::write(fd, data.data(), data.size()); });
  if (n < 0) return SystemError(what);
  if (static_cast<std::size_t>(n) != data.size()) {
    return jobserver::Error{jobserver::ErrorKind::kSystem, what + ": short write"};
  }
  return {};
}

// Appends one record under an exclusive lock. The clock is read under the
// lock too, so timestamps also increase in file order.
Status AppendRecord(int fd, const ProbeOptions& options, std::string_view verb) {
  if (RetryOnEintr([&] { return ::flock(fd, LOCK_EX); }) != 0) return SystemError(options.log);
  const std::string record = std::string(verb) + " " + options.id + " " +
                             std::to_string(::getpid()) + " " + std::to_string(MonotonicNs()) +
                             "\n";
  const Status written = WriteWhole(fd, record, options.log);
  ::flock(fd, LOCK_UN);
  return written;
}

// Opens `path` into *fd, O_CLOEXEC like every fd in the project.
Status OpenPath(const std::string& path, int flags, UniqueFd* fd) {
  fd->reset(RetryOnEintr([&] { return ::open(path.c_str(), flags | O_CLOEXEC, 0644); }));
  return fd->valid() ? Status() : SystemError(path);
}

Status Notify(const std::string& path, const std::string& id) {
  // Opening a FIFO blocks until the test has its read end open: that is fine,
  // the test is waiting for exactly this line.
  UniqueFd fd;
  const Status opened = OpenPath(path, O_WRONLY | O_APPEND, &fd);
  if (!opened.ok()) return opened;
  return WriteWhole(fd.get(), id + "\n", path);
}

// Blocks until every writer of the gate FIFO has closed it.
Status WaitForGate(int fd, const std::string& path) {
  char buffer[64];
  for (;;) {
    const ssize_t n = RetryOnEintr([&] { return ::read(fd, buffer, sizeof buffer); });
    if (n < 0) return SystemError(path);
    if (n == 0) return {};
  }
}

// The hold is the probe's workload, so sleeping here is the point.
void Hold(int hold_ms) {
  if (hold_ms < 0) {
    for (;;) ::pause();
  }
  timespec deadline;
  ::clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += hold_ms / 1000;
  deadline.tv_nsec += static_cast<long>(hold_ms % 1000) * 1'000'000;
  if (deadline.tv_nsec >= 1'000'000'000) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1'000'000'000;
  }
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
  }
}

Status Run(const ProbeOptions& options) {
  UniqueFd log;
  Status status = OpenPath(options.log, O_WRONLY | O_APPEND | O_CREAT, &log);
  // The gate is opened before `begin` so that it is held by the time the test
  // hears from --notify; opened later, the test might already have closed it.
  UniqueFd gate;
  if (status.ok() && options.gate) status = OpenPath(*options.gate, O_RDONLY, &gate);
  if (status.ok()) status = AppendRecord(log.get(), options, "begin");
  if (status.ok() && options.notify) status = Notify(*options.notify, options.id);
  if (status.ok() && gate) status = WaitForGate(gate.get(), *options.gate);
  if (!status.ok()) return status;
  Hold(options.hold_ms);
  return AppendRecord(log.get(), options, "end");
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<ProbeOptions> options = ParseArgs(argc, argv);
  if (!options) return kUsageExit;
  // Before anything is logged, so a test that has seen `begin` (or the notify
  // line) knows SIGTERM is already ignored.
  if (options->ignore_sigterm) ::signal(SIGTERM, SIG_IGN);
  const Status status = Run(*options);
  if (!status.ok()) {
    std::fprintf(stderr, "tierun-probe: %s\n", status.error().message.c_str());
    return kFailureExit;
  }
  return options->exit_code;
}
