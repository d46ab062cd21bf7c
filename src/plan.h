#pragma once

/// The experiment plan: what `tierun run` reads from tierun.toml (DESIGN.md
/// section 4.2).
///
///     [experiment]  name, runs, timeout, results
///     [agent]       command (argv array), env (table)        -- defaults
///     [judge]       command, env                             -- optional
///     [retry]       attempts, backoff, transient_exit_codes, transient_stderr
///     [[tier]]      id, subtests (list of ids, or a count N -> "00".."N-1"),
///                   depends_on, runs, timeout, agent = {...}, judge = {...}
///
/// Loading validates everything up front, so a bad plan fails before any
/// agent starts and before anything is written: every error names the file,
/// line and column and what was expected. Ids match [A-Za-z0-9._-]+ and are
/// never "." or "..", so no run directory can leave the results directory.
/// Commands are argv arrays (no shell) whose words may hold the placeholders
/// {experiment} {tier} {subtest} {run} {attempt} {run_dir}.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobserver/error.h"

namespace tierun {

using Milliseconds = std::chrono::milliseconds;

struct CommandSpec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  bool operator==(const CommandSpec&) const = default;
};

struct RetryPolicy {
  int attempts = 1;            ///< Total attempts per run, >= 1.
  Milliseconds backoff{1000};  ///< Before the 2nd attempt; doubled after.
  std::vector<int> transient_exit_codes;
  std::vector<std::string> transient_stderr;  ///< Substrings, case-insensitive.
  bool operator==(const RetryPolicy&) const = default;
};

/// A tier with the experiment's defaults already applied.
struct Tier {
  std::string id;
  std::vector<std::string> subtests;
  std::vector<std::string> depends_on;
  int runs = 1;
  Milliseconds timeout{0};  ///< Per attempt; 0 = none.
  CommandSpec agent;        ///< [agent] with the tier's overrides merged in.
  std::optional<CommandSpec> judge;
  bool operator==(const Tier&) const = default;
};

struct Plan {
  std::string source;  ///< The file it was read from (for messages).
  std::string name;
  int runs = 1;
  Milliseconds timeout{0};
  std::string results_dir = "results";
  RetryPolicy retry;
  std::vector<Tier> tiers;
  bool operator==(const Plan&) const = default;
};

/// Parses plan text; `source` names it in errors ("tierun.toml:12:5: ...").
/// Errors are kInvalid.
jobserver::Result<Plan> ParsePlan(std::string_view text, const std::string& source);

/// Reads and parses a plan file; a missing or unreadable file is kInvalid too,
/// with the path and the system's reason.
jobserver::Result<Plan> LoadPlan(const std::string& path);

/// The normalised plan, as stored in results/<name>/plan.json: every default
/// applied, durations in milliseconds. `source` and `results_dir` are left
/// out: moving a plan file or its results does not change the experiment.
nlohmann::json PlanToJson(const Plan& plan);
/// The inverse of PlanToJson (for `tierun report`); kInvalid naming `source`.
jobserver::Result<Plan> PlanFromJson(const nlohmann::json& json, const std::string& source);
/// 16 hex digits identifying PlanToJson(plan): resume is allowed only into
/// results made by a plan with the same hash. (-j and other parallelism
/// settings are command-line options, not part of the plan.)
std::string PlanHash(const Plan& plan);

/// "90s", "10m", "1h30m", "250ms", "2s" -> milliseconds; nullopt otherwise.
std::optional<Milliseconds> ParseDuration(std::string_view text);

/// Replaces {experiment} {tier} {subtest} {run} {attempt} {run_dir} in `word`.
struct PlaceholderValues {
  std::string experiment, tier, subtest, run, attempt, run_dir;
};
std::string ExpandPlaceholders(std::string_view word, const PlaceholderValues& values);

}  // namespace tierun
