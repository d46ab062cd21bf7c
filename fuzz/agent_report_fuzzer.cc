// Agent result.json parsing (src/agent_process.h ParseAgentReport): the
// input is the text an agent (or a judge, as judgment.json) left behind.
// Agents are other people's programs, so anything can be in it.

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmath>

#include "fuzz/fuzz_input.h"
#include "src/agent_process.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  jobserver::Result<tierun::AgentReport> report =
      tierun::ParseAgentReport(tierun::fuzz::AsText(data, size), "result.json");
  if (!report) {
    tierun::fuzz::Touch(report.error());
    return 0;
  }
  // An accepted report is within the ranges of src/run_record.h: no sum the
  // reports compute from it can overflow.
  if (report->score && !(std::abs(*report->score) <= tierun::kMaxScoreMagnitude)) abort();
  if (report->cost_usd &&
      !(*report->cost_usd >= 0 && *report->cost_usd <= tierun::kMaxAttemptCostUsd)) {
    abort();
  }
  for (int64_t count : {report->tokens.input, report->tokens.output}) {
    if (count < 0 || count > tierun::kMaxAttemptTokens) abort();
  }
  return 0;
}
