#include "src/agent_process.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <optional>

#include "jobserver/unique_fd.h"
#include "src/atomic_file.h"

namespace tierun {
namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;
using jobserver::UniqueFd;
using nlohmann::json;

std::string Lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

/// Reads `key` into `out` when present; false when present with the wrong type.
template <typename T>
bool ReadOptional(const json& object, const char* key, std::optional<T>& out) {
  auto found = object.find(key);
  if (found == object.end() || found->is_null()) return true;
  if constexpr (std::is_same_v<T, bool>) {
    if (!found->is_boolean()) return false;
  } else {
    if (!found->is_number()) return false;
  }
  out = found->get<T>();
  return true;
}

bool ReadTokens(const json& object, TokenCounts& tokens) {
  auto found = object.find("tokens");
  if (found == object.end() || found->is_null()) return true;
  if (!found->is_object()) return false;
  for (auto [key, field] : {std::pair{"input", &tokens.input}, {"output", &tokens.output}}) {
    auto value = found->find(key);
    if (value == found->end()) continue;
    if (!value->is_number_integer()) return false;
    // Past INT64_MAX, get<int64_t>() would wrap: kept out of range instead.
    *field = value->is_number_unsigned() && value->get<uint64_t>() > uint64_t{INT64_MAX}
                 ? INT64_MAX
                 : value->get<int64_t>();
  }
  return true;
}

/// Why the numbers of a well-typed report are out of the ranges of
/// run_record.h, if they are.
std::optional<std::string> RangeProblem(const AgentReport& report) {
  const auto outside = [](const char* key, double value, const std::string& range) {
    return std::string(key) + " " + json(value).dump() + " is out of range; expected " + range;
  };
  if (report.score && !(std::abs(*report.score) <= kMaxScoreMagnitude)) {
    return outside("score", *report.score, "a number from -1e9 to 1e9");
  }
  if (report.cost_usd && !(*report.cost_usd >= 0 && *report.cost_usd <= kMaxAttemptCostUsd)) {
    return outside("cost_usd", *report.cost_usd, "a number from 0 to 1e9");
  }
  for (auto [key, count] :
       {std::pair{"tokens.input", report.tokens.input}, {"tokens.output", report.tokens.output}}) {
    if (count < 0 || count > kMaxAttemptTokens) {
      return std::string(key) + " " + std::to_string(count) +
             " is out of range; expected an integer from 0 to 1e16";
    }
  }
  return std::nullopt;
}

/// result.json -> result.attempt1.json before attempt 2, and so on, within
/// the run directory `run_dir_fd`.
void KeepEarlierAttempt(int run_dir_fd, int attempt, bool judge) {
  const std::string previous = ".attempt" + std::to_string(attempt - 1);
  const std::vector<std::pair<std::string, std::string>> files =
      judge ? std::vector<std::pair<std::string, std::string>>{{"judge.stdout", ".log"},
                                                               {"judge.stderr", ".log"},
                                                               {"judgment", ".json"}}
            : std::vector<std::pair<std::string, std::string>>{
                  {"stdout", ".log"}, {"stderr", ".log"}, {"result", ".json"}};
  for (const auto& [stem, extension] : files) {
    const std::string from = stem + extension;
    const std::string to = stem + previous + extension;
    renameat(run_dir_fd, from.c_str(), run_dir_fd, to.c_str());  // ENOENT: nothing to keep.
  }
}

/// Opens a file the agent wrote, for reading, without blocking: the agent
/// may have put a FIFO or a device there (which would hold the event loop in
/// open() or read()), or nothing. ENOENT leaves `fd` empty with no error.
Result<UniqueFd> OpenAgentFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return UniqueFd();
    return jobserver::SystemError("cannot open " + path);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return jobserver::SystemError("cannot stat " + path);
  if (!S_ISREG(st.st_mode)) return Error{ErrorKind::kInvalid, path + ": not a regular file"};
  return fd;
}

std::vector<std::pair<std::string, std::string>> AttemptEnvironment(const AttemptSpec& spec) {
  const CommandSpec& command = spec.judge ? *spec.tier->judge : spec.tier->agent;
  std::vector<std::pair<std::string, std::string>> env(command.env.begin(), command.env.end());
  env.insert(env.end(), {{"TIERUN_EXPERIMENT", spec.plan->name},
                         {"TIERUN_TIER", spec.tier->id},
                         {"TIERUN_SUBTEST", spec.subtest},
                         {"TIERUN_RUN", std::to_string(spec.run)},
                         {"TIERUN_ATTEMPT", std::to_string(spec.attempt)},
                         {"TIERUN_RUN_DIR", spec.run_dir}});
  env.insert(env.end(), spec.pool_environment.begin(), spec.pool_environment.end());
  return env;
}

}  // namespace

Result<AgentReport> ParseAgentReport(std::string_view text, const std::string& path) {
  const json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Error{ErrorKind::kInvalid, path + ": expected a JSON object"};
  }
  AgentReport report;
  const bool typed = ReadOptional(parsed, "passed", report.passed) &&
                     ReadOptional(parsed, "score", report.score) &&
                     ReadOptional(parsed, "cost_usd", report.cost_usd) &&
                     ReadOptional(parsed, "retry_after_s", report.retry_after_s) &&
                     ReadTokens(parsed, report.tokens);
  if (!typed) {
    return Error{ErrorKind::kInvalid,
                 path +
                     ": expected passed (bool), score, cost_usd, retry_after_s (numbers), "
                     "tokens {input, output} (integers)"};
  }
  if (std::optional<std::string> problem = RangeProblem(report)) {
    return Error{ErrorKind::kInvalid, path + ": " + *problem};
  }
  return report;
}

Result<AgentReport> ReadAgentReport(const std::string& path) {
  Result<UniqueFd> fd = OpenAgentFile(path);
  if (!fd) return fd.error();
  if (!*fd) return AgentReport{};
  // Bounded: a 3 GB result.json is refused by its size, never read.
  Result<std::string> text = ReadWholeFile(fd->get(), path, kMaxAgentReportBytes);
  if (!text) return text.error();
  return ParseAgentReport(*text, path);
}

bool IsTransientFailure(const RetryPolicy& retry, const ExitStatus& status,
                        std::string_view stderr_text) {
  if (status.exited() && status.code() != 0 &&
      std::find(retry.transient_exit_codes.begin(), retry.transient_exit_codes.end(),
                status.code()) != retry.transient_exit_codes.end()) {
    return true;
  }
  if (retry.transient_stderr.empty() || (status.exited() && status.code() == 0)) return false;
  const std::string haystack = Lowercase(stderr_text);
  return std::any_of(retry.transient_stderr.begin(), retry.transient_stderr.end(),
                     [&](const std::string& pattern) {
                       return haystack.find(Lowercase(pattern)) != std::string::npos;
                     });
}

std::string ReadTail(const std::string& path, size_t max_bytes) {
  Result<UniqueFd> opened = OpenAgentFile(path);
  if (!opened || !*opened) return {};
  const UniqueFd& fd = *opened;
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return {};
  const off_t start = st.st_size > static_cast<off_t>(max_bytes) ? st.st_size - max_bytes : 0;
  std::string text(static_cast<size_t>(st.st_size - start), '\0');
  const ssize_t n = pread(fd.get(), text.data(), text.size(), start);
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return text;
}

Result<Subprocess> StartAttempt(const AttemptSpec& spec) {
  // A first attempt's directory is new (an earlier session's is moved aside).
  Result<UniqueFd> run_dir = MakeAndOpenDirectory(spec.run_dir, spec.attempt == 1 && !spec.judge
                                                                    ? LikelyDirectory::kNew
                                                                    : LikelyDirectory::kExists);
  if (!run_dir) return run_dir.error();
  if (spec.attempt > 1) KeepEarlierAttempt(run_dir->get(), spec.attempt, spec.judge);
  const std::string prefix = spec.judge ? "judge." : "";
  // New files: a symlink planted as a log cannot redirect the agent's
  // output, nor a FIFO hold this thread in open().
  Result<UniqueFd> out = CreateNewFileAt(run_dir->get(), prefix + "stdout.log",
                                         spec.run_dir + "/" + prefix + "stdout.log");
  if (!out) return out.error();
  Result<UniqueFd> err = CreateNewFileAt(run_dir->get(), prefix + "stderr.log",
                                         spec.run_dir + "/" + prefix + "stderr.log");
  if (!err) return err.error();
  const CommandSpec& command = spec.judge ? *spec.tier->judge : spec.tier->agent;
  const PlaceholderValues values{spec.plan->name,
                                 spec.tier->id,
                                 spec.subtest,
                                 std::to_string(spec.run),
                                 std::to_string(spec.attempt),
                                 spec.run_dir};
  SpawnOptions options;
  for (const std::string& word : command.argv) {
    options.argv.push_back(ExpandPlaceholders(word, values));
  }
  options.environment = AttemptEnvironment(spec);
  options.inherit_fds = spec.inherit_fds;
  options.close_other_fds = true;  // Stdio and the pool: nothing we inherited.
  options.stdout_fd = out->get();
  options.stderr_fd = err->get();
  options.cgroup_fd = spec.cgroup_fd;
  return Subprocess::Spawn(options);
}

}  // namespace tierun
