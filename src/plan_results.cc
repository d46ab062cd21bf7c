#include "src/plan_results.h"

namespace tierun {

RunOutcome RunOutcome::Of(const RunRecord& record) {
  RunOutcome outcome;
  outcome.status = record.status;
  outcome.passed = record.passed;
  outcome.attempts = record.attempts;
  outcome.score = record.score;
  outcome.cost_usd = record.cost_usd;
  outcome.tokens = record.tokens;
  outcome.exit_code = record.exit_code;
  outcome.signal = record.signal;
  outcome.duration_s = record.duration_s;
  return outcome;
}

PlanResults::PlanResults(const Plan& plan) : plan_(&plan) {
  size_t slots = 0;
  for (size_t tier = 0; tier < plan.tiers.size(); ++tier) {
    const Tier& planned = plan.tiers[tier];
    first_slot_of_tier_.push_back(slots);
    for (size_t subtest = 0; subtest < planned.subtests.size(); ++subtest) {
      indices_.emplace(
          std::pair<std::string_view, std::string_view>(planned.id, planned.subtests[subtest]),
          std::pair(tier, subtest));
    }
    slots += planned.subtests.size() * static_cast<size_t>(planned.runs);
  }
  outcomes_.resize(slots);
}

PlanResults PlanResults::FromRecords(const Plan& plan, const std::vector<RunRecord>& records) {
  PlanResults results(plan);
  for (const RunRecord& record : records) results.Add(record);
  return results;
}

size_t PlanResults::Slot(std::string_view tier, std::string_view subtest, int run) const {
  const auto found = indices_.find({tier, subtest});
  if (found == indices_.end()) return kNoSlot;
  const auto [tier_index, subtest_index] = found->second;
  const int runs = plan_->tiers[tier_index].runs;
  if (run < 1 || run > runs) return kNoSlot;
  return first_slot_of_tier_[tier_index] + subtest_index * static_cast<size_t>(runs) +
         static_cast<size_t>(run - 1);
}

void PlanResults::Add(const RunRecord& record) {
  const size_t slot = Slot(record.tier, record.subtest, record.run);
  if (slot == kNoSlot || outcomes_[slot]) return;
  outcomes_[slot] = RunOutcome::Of(record);
  ++count_;
}

const RunOutcome* PlanResults::Find(std::string_view tier, std::string_view subtest,
                                    int run) const {
  const size_t slot = Slot(tier, subtest, run);
  return slot == kNoSlot || !outcomes_[slot] ? nullptr : &*outcomes_[slot];
}

const RunOutcome* PlanResults::Find(size_t tier, size_t subtest, int run) const {
  const int runs = plan_->tiers[tier].runs;
  const size_t slot = first_slot_of_tier_[tier] + subtest * static_cast<size_t>(runs) +
                      static_cast<size_t>(run - 1);
  return outcomes_[slot] ? &*outcomes_[slot] : nullptr;
}

}  // namespace tierun
