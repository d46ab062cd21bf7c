#pragma once

/// What one run produced: the content of <tier>/<subtest>/run_NN/report.json.
/// A run is complete iff that file exists; every report above it is derived
/// from these records (metrics.h), never stored as separate state.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

namespace tierun {

/// What tierun takes from an agent's result.json (or a judge's
/// judgment.json), read by ReadAgentReport(): the file is at most
/// kMaxAgentReportBytes, and a number outside these ranges makes the report
/// invalid, the run failed with the reason. The ranges keep every sum and
/// mean the reports compute finite (metrics.h): a score of 1.7e308 or a cost
/// of -1e308 would print as inf and be chosen as the frontier.
inline constexpr size_t kMaxAgentReportBytes = size_t{1} << 20;  // 1 MiB
/// Scores from -1e9 to 1e9.
inline constexpr double kMaxScoreMagnitude = 1e9;
/// Costs from 0 to 1e9 USD per attempt.
inline constexpr double kMaxAttemptCostUsd = 1e9;
/// Token counts from 0 to 1e16 per attempt: a run's attempts (at most 100,
/// plan.h kMaxAttempts) sum to at most 1e18, below INT64_MAX (9.2e18).
inline constexpr int64_t kMaxAttemptTokens = 10'000'000'000'000'000;
/// A run's record sums its attempts: these are the bounds its report.json
/// is read back with (an agent could rewrite it).
inline constexpr int kMaxRecordAttempts = 100;
inline constexpr double kMaxRecordCostUsd = kMaxAttemptCostUsd * kMaxRecordAttempts;
inline constexpr int64_t kMaxRecordTokens = kMaxAttemptTokens * kMaxRecordAttempts;

struct TokenCounts {
  int64_t input = 0;
  int64_t output = 0;
  bool operator==(const TokenCounts&) const = default;
};

struct RunRecord {
  std::string tier;
  std::string subtest;
  int run = 0;       ///< 1-based.
  int attempts = 1;  ///< Attempts made, the last one recorded here.
  /// "passed", "failed" (agent or judge said no), "timeout", "crashed"
  /// (killed by a signal), "error" (could not be started).
  std::string status;
  bool passed = false;
  /// From result.json; absent: 1.0 if passed, else 0.0 (documented).
  double score = 0;
  std::optional<double> cost_usd;  ///< Absent counts as 0 in sums.
  TokenCounts tokens;
  std::optional<int> exit_code;
  std::optional<int> signal;
  double duration_s = 0;
  std::string started_at;  ///< UTC, ISO 8601 ("2026-11-29T00:04:26.123Z").
  std::string finished_at;
  bool operator==(const RunRecord&) const = default;
};

/// Adds `more` to `sum`, each count stopping at INT64_MAX instead of
/// wrapping: sums over many runs can pass it (1,000 runs of 1e16 tokens).
/// The reports show a count at INT64_MAX as null, "more than tierun counts"
/// (TokenCountSaturated).
void AddTokensSaturating(TokenCounts& sum, const TokenCounts& more);
/// True for a count a saturating sum stopped at.
bool TokenCountSaturated(int64_t count);

/// Identifies a run: (tier, sub-test, run number).
using RunId = std::tuple<std::string, std::string, int>;

void to_json(nlohmann::json& json, const RunRecord& record);
/// What nlohmann::json(record).dump(2) writes, without building the json:
/// the runner writes one for every agent (json_text.h).
std::string RunRecordText(const RunRecord& record);
/// Throws nlohmann::json::exception on a malformed record (callers turn it
/// into an error naming the file).
void from_json(const nlohmann::json& json, RunRecord& record);

}  // namespace tierun
