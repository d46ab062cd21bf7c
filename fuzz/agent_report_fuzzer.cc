// Agent result.json parsing (src/agent_process.h ParseAgentReport): the
// input is the text an agent (or a judge, as judgment.json) left behind.
// Agents are other people's programs, so anything can be in it.

#include <stddef.h>
#include <stdint.h>

#include "fuzz/fuzz_input.h"
#include "src/agent_process.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  jobserver::Result<tierun::AgentReport> report =
      tierun::ParseAgentReport(tierun::fuzz::AsText(data, size), "result.json");
  if (!report) tierun::fuzz::Touch(report.error());
  return 0;
}
