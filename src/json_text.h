#pragma once

/// JSON written as text, for the few records the runner writes for every
/// agent: the journal's start and finish lines and the run's report.json.
/// Building an nlohmann::json for each (a std::map node and strings per key)
/// was a tenth of the runner's own time per agent in the W1 profile
/// (bench/README.md); everything read, and everything written once per
/// session, still goes through nlohmann::json. The text is what
/// nlohmann::json::dump() writes for the same values, so readers see no
/// difference.

#include <cstdint>
#include <string>
#include <string_view>

namespace tierun {

/// Appends `text` as a JSON string literal, escaped as dump() escapes it.
void AppendJsonString(std::string& out, std::string_view text);
/// Appends a finite number as dump() writes it ("0.5", "1.0", "1e-05").
void AppendJsonNumber(std::string& out, double value);

/// One JSON object on one line, members in the order added:
/// {"tier":"T0","run":3}
class JsonLine {
 public:
  JsonLine& AddString(std::string_view key, std::string_view value);
  JsonLine& AddInteger(std::string_view key, int64_t value);
  JsonLine& AddBool(std::string_view key, bool value);
  JsonLine& AddNumber(std::string_view key, double value);
  /// The object's text, closed. Moves it out: use the line no further.
  std::string Finish();

 private:
  void Key(std::string_view key);

  std::string text_ = "{";
};

}  // namespace tierun
