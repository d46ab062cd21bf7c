#pragma once

/// Small builders of plans and run records for unit tests of the runner:
/// only the fields a test names are set, everything else keeps its default.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "src/plan.h"
#include "src/run_record.h"

namespace tierun::test {

inline Tier MakeTier(std::string id, std::vector<std::string> subtests, int runs,
                     std::vector<std::string> depends_on = {}) {
  Tier tier;
  tier.id = std::move(id);
  tier.subtests = std::move(subtests);
  tier.runs = runs;
  tier.depends_on = std::move(depends_on);
  return tier;
}

inline Plan MakePlan(std::string name, std::vector<Tier> tiers) {
  Plan plan;
  plan.name = std::move(name);
  plan.tiers = std::move(tiers);
  return plan;
}

/// A complete run record: "passed" or "failed" as `passed` says.
inline RunRecord MakeRecord(std::string tier, std::string subtest, int run, double score,
                            bool passed, std::optional<double> cost) {
  RunRecord record;
  record.tier = std::move(tier);
  record.subtest = std::move(subtest);
  record.run = run;
  record.status = passed ? "passed" : "failed";
  record.passed = passed;
  record.score = score;
  record.cost_usd = cost;
  return record;
}

}  // namespace tierun::test
