#pragma once

/// Proving that a concurrency limit was respected, from a log the agents wrote.
///
/// Why a log and not timing: concurrency is measured, not assumed (docs/design.md
/// section 10). Every test agent (tierun-probe) appends `begin ID PID NS` when
/// its work starts and `end ID PID NS` when it stops, each record one write()
/// under an exclusive flock() on the shared log. The lock serialises the
/// records, so the order of lines in the file is a valid linearisation of the
/// begin/end events: replaying the lines in file order and counting open runs
/// gives the concurrency at every instant. NS (CLOCK_MONOTONIC nanoseconds) is
/// informational only; the verifier never orders by it.
///
/// Worked example, limit 2:
///
///     begin a 101 1000     open: a        concurrency 1
///     begin b 102 1010     open: a b      concurrency 2
///     end a 101 1050       open: b        concurrency 1
///     begin c 103 1060     open: b c      concurrency 2
///     end b 102 1100       open: c
///     end c 103 1110       -> ok: 3 runs, max concurrency 2
///
/// Each problem is a Violation naming the 1-based line it concerns:
///  - concurrency above the limit (the line where it went over, and the peak);
///  - a run that began and never ended; an end with no open begin for its ID;
///    an end by a different PID than the begin;
///  - a run that began twice;
///  - runs missing from, or not in, `expected_ids`; a number of distinct runs
///    other than `expected_count`;
///  - with `require_limit_reached`, a maximum below the limit: when the work
///    allowed full parallelism, over-serialisation is a bug too;
///  - malformed lines (they are then left out of the replay).

#include <cstddef>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "jobserver/error.h"

namespace tierun::testing {

// The optionals say `= std::nullopt` so that g++ -Wextra (missing field
// initializers) accepts designated initializers that leave them out.
struct VerifyOptions {
  /// At most this many runs may be open at any point of the log; at least 1.
  int limit = 1;
  /// When set, exactly these run IDs must appear in the log.
  std::optional<std::set<std::string>> expected_ids = std::nullopt;
  /// When set, the number of distinct run IDs must equal this.
  std::optional<std::size_t> expected_count = std::nullopt;
  /// Report a maximum concurrency below `limit`. It is deterministic only when
  /// the test makes every run begin before any ends (tierun-probe --gate).
  bool require_limit_reached = false;
};

struct Violation {
  std::size_t line = 0;  ///< 1-based log line; 0 when it concerns the whole log.
  std::string message;

  friend bool operator==(const Violation&, const Violation&) = default;
};

struct VerifyReport {
  int max_concurrency = 0;
  std::size_t runs = 0;               ///< Distinct IDs that began.
  std::vector<Violation> violations;  ///< By line; whole-log ones (line 0) last.

  bool ok() const { return violations.empty(); }
};

/// Replays `log_text` in line order and checks it against `options`.
VerifyReport VerifyLog(std::string_view log_text, const VerifyOptions& options);

/// Reads a whole file, such as a log. The error message is "<path>: <strerror>".
jobserver::Result<std::string> ReadTextFile(const std::string& path);

/// "line 3: message", or just "message" for a whole-log violation.
std::ostream& operator<<(std::ostream& out, const Violation& violation);
/// The summary and one violation per line, for test failure messages:
/// `EXPECT_TRUE(report.ok()) << report;`
std::ostream& operator<<(std::ostream& out, const VerifyReport& report);

}  // namespace tierun::testing
