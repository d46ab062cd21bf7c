#include "src/run_selection.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string_view>

namespace tierun {
namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;

/// "1", "07", "run_01" -> the run number; nullopt for anything else.
std::optional<int> ParseRunNumber(std::string_view text) {
  if (text.starts_with("run_")) text.remove_prefix(4);
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end != text.data() + text.size() || number < 1) return std::nullopt;
  return number;
}

const Tier* FindTier(const Plan& plan, const std::string& id) {
  auto found = std::find_if(plan.tiers.begin(), plan.tiers.end(),
                            [&](const Tier& tier) { return tier.id == id; });
  return found == plan.tiers.end() ? nullptr : &*found;
}

Result<RunSelection> SelectTiers(const Plan& plan, const std::vector<std::string>& names) {
  RunSelection selection;
  selection.scope = RunSelection::Scope::kTiers;
  for (const std::string& name : names) {
    if (FindTier(plan, name) == nullptr) {
      return Error{ErrorKind::kInvalid, "--tiers: no tier '" + name + "' in the plan"};
    }
    selection.tiers.insert(name);
  }
  return selection;
}

/// The error of a well-formed --runs item that names no run of the plan.
std::optional<Error> CheckRunExists(const Plan& plan, const std::string& text, const RunId& id) {
  const auto& [tier_id, subtest, run] = id;
  const Tier* tier = FindTier(plan, tier_id);
  if (tier == nullptr) {
    return Error{ErrorKind::kInvalid,
                 "--runs: no tier '" + tier_id + "' in the plan ('" + text + "')"};
  }
  if (std::find(tier->subtests.begin(), tier->subtests.end(), subtest) == tier->subtests.end()) {
    return Error{ErrorKind::kInvalid,
                 "--runs: no sub-test '" + subtest + "' in tier " + tier_id + " ('" + text + "')"};
  }
  if (run > tier->runs) {
    return Error{ErrorKind::kInvalid, "--runs: no run '" + text + "' in the plan (tier " + tier_id +
                                          " has runs 1-" + std::to_string(tier->runs) + ")"};
  }
  return std::nullopt;
}

Result<RunSelection> SelectListedRuns(const Plan& plan, const std::vector<std::string>& items) {
  RunSelection selection;
  selection.scope = RunSelection::Scope::kRuns;
  for (const std::string& item : items) {
    Result<RunId> id = ParseRunSpec(item);
    if (!id) return id.error();
    if (std::optional<Error> missing = CheckRunExists(plan, item, *id)) return *missing;
    selection.tiers.insert(std::get<0>(*id));
    selection.runs.insert(*id);
  }
  return selection;
}

}  // namespace

bool RunSelection::HasTier(const std::string& tier) const {
  return scope == Scope::kWhole || tiers.contains(tier);
}

bool RunSelection::Has(const std::string& tier, const std::string& subtest, int run) const {
  switch (scope) {
    case Scope::kWhole:
      return true;
    case Scope::kTiers:
      return tiers.contains(tier);
    case Scope::kRuns:
      return runs.contains(RunId{tier, subtest, run});
  }
  return false;
}

Result<RunId> ParseRunSpec(const std::string& text) {
  const Error malformed{ErrorKind::kInvalid,
                        "--runs: '" + text +
                            "' is not TIER/SUBTEST/RUN (RUN: a run number such as 1, or a run "
                            "directory such as run_01)"};
  const size_t first = text.find('/');
  if (first == std::string::npos) return malformed;
  const size_t second = text.find('/', first + 1);
  if (second == std::string::npos || text.find('/', second + 1) != std::string::npos) {
    return malformed;
  }
  std::string tier = text.substr(0, first);
  std::string subtest = text.substr(first + 1, second - first - 1);
  const std::optional<int> run = ParseRunNumber(std::string_view(text).substr(second + 1));
  if (tier.empty() || subtest.empty() || !run) return malformed;
  return RunId{std::move(tier), std::move(subtest), *run};
}

Result<RunSelection> SelectRuns(const Plan& plan, const std::vector<std::string>& tiers,
                                const std::vector<std::string>& runs) {
  if (!tiers.empty() && !runs.empty()) {
    return Error{ErrorKind::kInvalid, "use --tiers or --runs, not both"};
  }
  if (!tiers.empty()) return SelectTiers(plan, tiers);
  if (!runs.empty()) return SelectListedRuns(plan, runs);
  return RunSelection{};
}

}  // namespace tierun
