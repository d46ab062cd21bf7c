// plan.json parsing (src/plan.h PlanFromJson): the input is the text of a
// results/<name>/plan.json, which `tierun report` and a resumed run read
// back and which anyone can edit or truncate.
//
// Text that is not JSON is skipped (nlohmann's parser is not ours to fuzz);
// any JSON value must become a Plan or an error naming the field at fault.

#include <stddef.h>
#include <stdint.h>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_input.h"
#include "src/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json json = nlohmann::json::parse(tierun::fuzz::AsText(data, size), nullptr,
                                                    /*allow_exceptions=*/false);
  if (json.is_discarded()) return 0;
  jobserver::Result<tierun::Plan> plan = tierun::PlanFromJson(json, "plan.json");
  if (!plan) tierun::fuzz::Touch(plan.error());
  return 0;
}
