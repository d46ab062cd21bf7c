#pragma once

/// One attempt of an agent (or its judge): how it is started, and what its
/// ending means (docs/design.md section 4.6).
///
/// Environment: TIERUN_EXPERIMENT, TIERUN_TIER, TIERUN_SUBTEST, TIERUN_RUN,
/// TIERUN_ATTEMPT, TIERUN_RUN_DIR (created before the start), the plan's env
/// and the jobserver variables, so the agent's own make or cargo shares the
/// pool. stdout/stderr go to stdout.log/stderr.log in the run directory (the
/// judge's to judge.stdout.log/judge.stderr.log); an earlier attempt's files
/// are kept as stdout.attempt1.log, result.attempt1.json, ...
///
/// Result: exit 0 = pass, unless the agent wrote result.json:
///   {"passed": true, "score": 0.82, "cost_usd": 0.013,
///    "tokens": {"input": 1200, "output": 300}, "retry_after_s": 30}
/// (all optional). A judge decides by its exit status, or by judgment.json
/// {"passed": ..., "score": ...}.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "jobserver/error.h"
#include "src/exit_status.h"
#include "src/plan.h"
#include "src/run_record.h"
#include "src/subprocess_posix.h"

namespace tierun {

/// What an agent's result.json (or a judge's judgment.json) says.
struct AgentReport {
  std::optional<bool> passed;
  std::optional<double> score;
  std::optional<double> cost_usd;
  TokenCounts tokens;
  std::optional<double> retry_after_s;
};

/// Parses result.json / judgment.json text; kInvalid naming `path` when it is
/// not a JSON object of the documented fields and types.
jobserver::Result<AgentReport> ParseAgentReport(std::string_view text, const std::string& path);
/// Reads it from a file: a missing file is an empty report.
jobserver::Result<AgentReport> ReadAgentReport(const std::string& path);

/// True when the attempt failed in a way worth retrying: its exit code is in
/// transient_exit_codes, or its stderr contains a transient_stderr pattern
/// (case-insensitive).
bool IsTransientFailure(const RetryPolicy& retry, const ExitStatus& status,
                        std::string_view stderr_text);

/// The last `max_bytes` of a file (stderr can be large); empty if unreadable.
std::string ReadTail(const std::string& path, size_t max_bytes);

struct AttemptSpec {
  const Plan* plan = nullptr;
  const Tier* tier = nullptr;
  std::string subtest;
  int run = 1;
  int attempt = 1;
  std::string run_dir;  ///< Absolute.
  bool judge = false;
  /// Jobserver variables and the fds pipe pools need.
  std::vector<std::pair<std::string, std::string>> pool_environment;
  std::vector<int> inherit_fds;
  /// The cgroup to start it in (SpawnOptions::cgroup_fd), or -1.
  int cgroup_fd = -1;
};

/// Creates the run directory, keeps an earlier attempt's files aside, opens
/// the logs and starts the process in a group of its own.
jobserver::Result<Subprocess> StartAttempt(const AttemptSpec& spec);

}  // namespace tierun
