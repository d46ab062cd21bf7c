// CTEST_RESOURCE_GROUP_* parsing (src/ctest_resources.h): the input is an
// environment as ctest would set it for a test.
//
// Input: line 1 is the resource type asked for ("agents" in tierun run);
// every later line NAME=VALUE sets a variable (the last one of a name wins;
// a line without '=' is ignored). The lookup reads only that map, never the
// process environment.

#include <stddef.h>
#include <stdint.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "src/ctest_resources.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string_view> lines = tierun::fuzz::Lines(tierun::fuzz::AsText(data, size));
  if (lines.empty()) return 0;
  const std::string type(lines[0]);
  std::map<std::string, std::string, std::less<>> env;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t equals = lines[i].find('=');
    if (equals == std::string_view::npos) continue;
    env[std::string(lines[i].substr(0, equals))] = std::string(lines[i].substr(equals + 1));
  }
  const tierun::EnvironmentLookup lookup =
      [&env](const std::string& name) -> std::optional<std::string> {
    const auto found = env.find(name);
    if (found == env.end()) return std::nullopt;
    return found->second;
  };
  jobserver::Result<std::optional<int>> slots = tierun::CTestResourceSlots(type, lookup);
  if (!slots) {
    tierun::fuzz::Touch(slots.error());
  } else if (*slots && **slots <= 0) {
    // The header: nullopt is "no cap"; a cap is a positive number of slots.
    tierun::fuzz::Fail("a cap of no slots");
  }
  return 0;
}
