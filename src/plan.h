#pragma once

/// The experiment plan: what `tierun run` reads from tierun.toml
/// (docs/design.md section 4.2).
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
///
/// Limits, each a plan error beyond it (the k* constants below say why):
/// the plan file 4 MiB; 1,000,000 runs in all (sub-tests x runs summed over
/// tiers); ids and the name 243 bytes; timeout and backoff 8760h (365 days),
/// and so the longest retry wait, backoff x 2^(attempts-2); 100 attempts;
/// the normalised plan (plan.json) 8 MiB. CheckResultPaths() checks the
/// paths against PATH_MAX once the results directory is known.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobserver/error.h"

namespace tierun {

using Milliseconds = std::chrono::milliseconds;

/// A plan file is read whole, and a TOML document takes some ten times its
/// size as nodes: 4 MiB holds 100,000 named sub-tests.
inline constexpr size_t kMaxPlanFileBytes = size_t{4} << 20;
/// Runs in one plan, the sum over tiers of sub-tests x runs: a runner holds
/// some 170 bytes per planned run (its outcome table, queue and progress),
/// so 1,000,000 runs take about 170 MB; 10,000,000 would take 1.7 GB.
inline constexpr int64_t kMaxPlanRuns = 1'000'000;
/// An id or the experiment's name names a directory, and tierun derives
/// longer names from it: the longest is results/.<name>.setup.lock, 12 bytes
/// more (results/<name>.old.N adds at most 9). 255 (NAME_MAX) - 12 = 243.
inline constexpr size_t kMaxIdLength = 243;
/// timeout and backoff: a deadline or a retry time is the steady clock plus
/// the duration, in nanoseconds, which 3000000h would overflow (every run
/// then timed out after 1 ms). A year is more than any agent needs.
inline constexpr Milliseconds kMaxDuration{int64_t{8760} * 3600 * 1000};
/// attempts: a retried run sums the cost and tokens of all its attempts.
inline constexpr int kMaxAttempts = 100;
/// PlanToJson(plan) as compact JSON: plan.json holds it indented (at most
/// some 5.4 times longer), and is read back at most kDefaultReadLimit
/// (64 MiB, atomic_file.h). Tiers copy [agent] and [judge], so a plan file
/// of 4 MiB could otherwise expand without bound.
inline constexpr size_t kMaxNormalizedPlanBytes = size_t{8} << 20;

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

/// Reads and parses a plan file of at most kMaxPlanFileBytes; a missing,
/// unreadable or larger file is kInvalid too, with the path and the reason.
jobserver::Result<Plan> LoadPlan(const std::string& path);

/// Whether every path tierun makes for `plan` below `experiment_dir` (the
/// absolute results/<name>) fits PATH_MAX: the longest is
/// <dir>/<tier>/<subtest>/run_NN/report.json.tmp.<pid>.<n>. kInvalid saying
/// which tier and sub-test make it too long; checked before anything is
/// written, since a run would otherwise fail halfway with directories made.
jobserver::Status CheckResultPaths(const Plan& plan, const std::string& experiment_dir);

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
