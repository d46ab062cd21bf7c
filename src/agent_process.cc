#include "src/agent_process.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

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
    *field = value->get<int64_t>();
  }
  return true;
}

/// result.json -> result.attempt1.json before attempt 2, and so on.
void KeepEarlierAttempt(const std::string& run_dir, int attempt, bool judge) {
  const std::string previous = ".attempt" + std::to_string(attempt - 1);
  const std::vector<std::pair<std::string, std::string>> files =
      judge ? std::vector<std::pair<std::string, std::string>>{{"judge.stdout", ".log"},
                                                               {"judge.stderr", ".log"},
                                                               {"judgment", ".json"}}
            : std::vector<std::pair<std::string, std::string>>{
                  {"stdout", ".log"}, {"stderr", ".log"}, {"result", ".json"}};
  for (const auto& [stem, extension] : files) {
    const std::string from = run_dir + "/" + stem + extension;
    const std::string to = run_dir + "/" + stem + previous + extension;
    rename(from.c_str(), to.c_str());  // ENOENT is fine: nothing to keep.
  }
}

Result<UniqueFd> OpenLog(const std::string& path) {
  // O_NOFOLLOW: a symlink planted as a log cannot redirect the agent's output.
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return jobserver::SystemError("cannot create " + path);
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
  return report;
}

Result<AgentReport> ReadAgentReport(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return AgentReport{};
  // A FIFO or device here would block the event loop on open().
  if (!S_ISREG(st.st_mode)) return Error{ErrorKind::kInvalid, path + ": not a regular file"};
  Result<std::string> text = ReadWholeFile(path);
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
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return {};
  const off_t start = st.st_size > static_cast<off_t>(max_bytes) ? st.st_size - max_bytes : 0;
  std::string text(static_cast<size_t>(st.st_size - start), '\0');
  const ssize_t n = pread(fd.get(), text.data(), text.size(), start);
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return text;
}

Result<Subprocess> StartAttempt(const AttemptSpec& spec) {
  if (jobserver::Status made = MakeDirectories(spec.run_dir); !made) return made.error();
  if (spec.attempt > 1) KeepEarlierAttempt(spec.run_dir, spec.attempt, spec.judge);
  const std::string prefix = spec.run_dir + (spec.judge ? "/judge." : "/");
  Result<UniqueFd> out = OpenLog(prefix + "stdout.log");
  if (!out) return out.error();
  Result<UniqueFd> err = OpenLog(prefix + "stderr.log");
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
  return Subprocess::Spawn(options);
}

}  // namespace tierun
