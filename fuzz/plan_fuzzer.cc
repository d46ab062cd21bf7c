// Plan parsing (src/plan.h): the input is the text of a tierun.toml.
//
// ParsePlan must turn any text into a Plan or an error, never a crash or an
// escaped exception. A plan it accepts must survive the trip through
// plan.json unchanged (PlanFromJson is documented as PlanToJson's inverse,
// apart from the source file and the results directory): otherwise
// `tierun report` could not read back what `tierun run` wrote.

#include <stddef.h>
#include <stdint.h>

#include <string>

#include "fuzz/fuzz_input.h"
#include "src/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  jobserver::Result<tierun::Plan> plan =
      tierun::ParsePlan(tierun::fuzz::AsText(data, size), "fuzz.toml");
  if (!plan) {
    tierun::fuzz::Touch(plan.error());
    return 0;
  }
  jobserver::Result<tierun::Plan> back = tierun::PlanFromJson(PlanToJson(*plan), "plan.json");
  if (!back) {
    tierun::fuzz::Touch(back.error());
    tierun::fuzz::Fail("PlanFromJson rejects what PlanToJson wrote");
  }
  plan->source = back->source;
  plan->results_dir = back->results_dir;
  if (!(*back == *plan)) tierun::fuzz::Fail("the plan changed on its way through plan.json");
  return 0;
}
