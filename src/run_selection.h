#pragma once

/// Which runs of a plan one `tierun run` runs: all of them, some tiers
/// (--tiers T0,T1) or some runs (--runs T0/00-baseline/1,T0/00-baseline/run_02).
///
/// A selection lets one experiment be split across many concurrent runners
/// that share one results directory -- e.g. one CTest test per tier or per
/// run. Runs outside the selection are not run, and dependencies outside it
/// are taken as done: the runner of T5 does not wait for T0, the test
/// ordering (ctest DEPENDS) does. Within a selection, a tier's selected runs
/// still wait for the selected runs of the tiers it depends on.
///
/// A scoped selection (--tiers or --runs) also decides which locks the
/// runner takes in the results directory and which incomplete run
/// directories it may move aside (results_dir.h).

#include <set>
#include <string>
#include <vector>

#include "jobserver/error.h"
#include "src/plan.h"
#include "src/run_record.h"

namespace tierun {

struct RunSelection {
  enum class Scope {
    kWhole,  ///< Every run of the plan.
    kTiers,  ///< Every run of `tiers`.
    kRuns,   ///< Exactly `runs`; `tiers` are the tiers they belong to.
  };
  Scope scope = Scope::kWhole;
  std::set<std::string> tiers;  ///< Tier ids (kTiers, kRuns).
  std::set<RunId> runs;         ///< (tier, sub-test, run number) (kRuns).

  bool scoped() const { return scope != Scope::kWhole; }
  /// True when some run of the tier is selected.
  bool HasTier(const std::string& tier) const;
  bool Has(const std::string& tier, const std::string& subtest, int run) const;
};

/// A selection from the --tiers and --runs values (both empty: the whole
/// plan). Every name must exist in the plan; errors are kInvalid and name the
/// bad item: "--runs: no run 'T0/00/7' in the plan (tier T0 has runs 1-2)".
/// --tiers and --runs together are refused.
jobserver::Result<RunSelection> SelectRuns(const Plan& plan, const std::vector<std::string>& tiers,
                                           const std::vector<std::string>& runs);

/// One --runs item, "TIER/SUBTEST/RUN", where RUN is the run number (1) or
/// its directory name (run_01). kInvalid when malformed; the names are not
/// checked against a plan.
jobserver::Result<RunId> ParseRunSpec(const std::string& text);

}  // namespace tierun
