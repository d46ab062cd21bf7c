// MAKEFLAGS parsing (jobserver/makeflags.h): the whole input is one
// MAKEFLAGS value, and its lines are the three variables ChooseAuth weighs.
//
// Input: any bytes. ParseMakeflags reads all of them ('\n' is a blank to
// make). ChooseAuth reads line 1 as MAKEFLAGS, line 2 as CARGO_MAKEFLAGS and
// line 3 as MFLAGS; a missing line, or one reading "(unset)", is an unset
// variable. Every word SplitMakeflags finds must come back unchanged through
// EscapeForMakeflags, as the header promises.

#include <stddef.h>
#include <stdint.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "jobserver/makeflags.h"

namespace {

using tierun::fuzz::Fail;
using tierun::fuzz::Touch;

constexpr std::string_view kUnset = "(unset)";

std::optional<std::string> Variable(const std::vector<std::string_view>& lines, size_t index) {
  if (index >= lines.size() || lines[index] == kUnset) return std::nullopt;
  return std::string(lines[index]);
}

void CheckEscapeRoundTrip(std::string_view text) {
  for (const std::string& word : jobserver::SplitMakeflags(text)) {
    const std::vector<std::string> back =
        jobserver::SplitMakeflags(jobserver::EscapeForMakeflags(word));
    if (back.size() != 1 || back[0] != word) Fail("EscapeForMakeflags does not round-trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = tierun::fuzz::AsText(data, size);

  jobserver::Result<jobserver::Auth> parsed = jobserver::ParseMakeflags(text);
  if (!parsed) Touch(parsed.error());
  CheckEscapeRoundTrip(text);

  const std::vector<std::string_view> lines = tierun::fuzz::Lines(text);
  const jobserver::MakeflagsEnvironment env{Variable(lines, 0), Variable(lines, 1),
                                            Variable(lines, 2)};
  jobserver::Result<jobserver::Auth> chosen = jobserver::ChooseAuth(env);
  if (!chosen) Touch(chosen.error());
  return 0;
}
