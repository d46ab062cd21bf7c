#pragma once

/// What one run produced: the content of <tier>/<subtest>/run_NN/report.json.
/// A run is complete iff that file exists; every report above it is derived
/// from these records (metrics.h), never stored as separate state.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

namespace tierun {

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
