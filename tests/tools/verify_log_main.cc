/// tierun-verify-log: checks a begin/end log written by tierun-probe.
///
///   tierun-verify-log FILE --limit N [--expect-count N] [--expect-ids IDS_FILE]
///                     [--expect-reached]
///
/// On success prints `ok: R runs, max concurrency M (limit N)` and exits 0.
/// Otherwise prints each violation to stderr as `FILE:LINE: message` (or
/// `FILE: message` when it concerns the whole log) and exits 1. Usage errors,
/// and a log or IDS_FILE that cannot be read, exit 2. IDS_FILE holds one run
/// ID per line; blank lines are ignored. The checks are those of VerifyLog()
/// in tests/tools/concurrency_log.h.

#include <charconv>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "tests/tools/concurrency_log.h"

namespace {

using tierun::testing::VerifyOptions;
using tierun::testing::VerifyReport;
using tierun::testing::Violation;

constexpr int kViolationsExit = 1;
constexpr int kUsageExit = 2;
constexpr char kUsage[] =
    "usage: tierun-verify-log FILE --limit N [--expect-count N] [--expect-ids IDS_FILE] "
    "[--expect-reached]\n";

struct CliOptions {
  std::string log_path;
  VerifyOptions verify;
  std::optional<std::string> ids_path;
};

template <typename Int>
bool ParseNumber(std::string_view text, Int* value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return !text.empty() && ec == std::errc() && ptr == end;
}

// Handles the option at argv[*i], advancing *i past its value; returns an
// error or "".
std::string ParseOption(int argc, char** argv, int* i, CliOptions* options) {
  const std::string_view arg = argv[*i];
  if (arg == "--expect-reached") {
    options->verify.require_limit_reached = true;
    return "";
  }
  if (*i + 1 >= argc) return "unknown or incomplete option: " + std::string(arg);
  const std::string value = argv[++*i];
  if (arg == "--limit") {
    int limit = 0;
    if (!ParseNumber(value, &limit) || limit < 1) return "bad --limit: " + value;
    options->verify.limit = limit;
  } else if (arg == "--expect-count") {
    std::size_t count = 0;
    if (!ParseNumber(value, &count)) return "bad --expect-count: " + value;
    options->verify.expected_count = count;
  } else if (arg == "--expect-ids") {
    options->ids_path = value;
  } else {
    return "unknown option: " + std::string(arg);
  }
  return "";
}

std::optional<CliOptions> ParseArgs(int argc, char** argv) {
  CliOptions options;
  bool has_limit = false;
  std::string error;
  for (int i = 1; i < argc && error.empty(); ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("-")) {
      has_limit |= arg == "--limit";
      error = ParseOption(argc, argv, &i, &options);
    } else if (options.log_path.empty()) {
      options.log_path = arg;
    } else {
      error = "more than one log file: " + std::string(arg);
    }
  }
  if (error.empty() && options.log_path.empty()) error = "no log file";
  if (error.empty() && !has_limit) error = "--limit is required";
  if (error.empty()) return options;
  std::fprintf(stderr, "tierun-verify-log: %s\n%s", error.c_str(), kUsage);
  return std::nullopt;
}

std::set<std::string> ParseIdList(std::string_view text) {
  std::set<std::string> ids;
  while (!text.empty()) {
    const std::size_t newline = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(std::min(newline + 1, text.size()));
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") + 1 - first);
    ids.emplace(line);
  }
  return ids;
}

void PrintViolations(const std::string& log_path, const VerifyReport& report) {
  for (const Violation& violation : report.violations) {
    if (violation.line == 0) {
      std::fprintf(stderr, "%s: %s\n", log_path.c_str(), violation.message.c_str());
    } else {
      std::fprintf(stderr, "%s:%zu: %s\n", log_path.c_str(), violation.line,
                   violation.message.c_str());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<CliOptions> options = ParseArgs(argc, argv);
  if (!options) return kUsageExit;
  if (options->ids_path) {
    const jobserver::Result<std::string> ids = tierun::testing::ReadTextFile(*options->ids_path);
    if (!ids.ok()) {
      std::fprintf(stderr, "tierun-verify-log: %s\n", ids.error().message.c_str());
      return kUsageExit;
    }
    options->verify.expected_ids = ParseIdList(ids.value());
  }
  const jobserver::Result<std::string> log = tierun::testing::ReadTextFile(options->log_path);
  if (!log.ok()) {
    std::fprintf(stderr, "tierun-verify-log: %s\n", log.error().message.c_str());
    return kUsageExit;
  }
  const VerifyReport report = tierun::testing::VerifyLog(log.value(), options->verify);
  if (!report.ok()) {
    PrintViolations(options->log_path, report);
    return kViolationsExit;
  }
  std::printf("ok: %zu runs, max concurrency %d (limit %d)\n", report.runs, report.max_concurrency,
              options->verify.limit);
  return 0;
}
