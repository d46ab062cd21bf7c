#include "src/ctest_resources.h"

#include <stdlib.h>

#include <cctype>
#include <charconv>
#include <limits>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tierun {
namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;

std::optional<int> ParseCount(std::string_view text) {
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0) return std::nullopt;
  return value;
}

std::string Uppercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

bool ListsType(std::string_view types, std::string_view type) {
  while (!types.empty()) {
    const size_t comma = types.find(',');
    if (types.substr(0, comma) == type) return true;
    if (comma == std::string_view::npos) break;
    types.remove_prefix(comma + 1);
  }
  return false;
}

/// No real spec comes near it, but the variables are text anyone can set:
/// a sum past INT_MAX is refused rather than left to overflow.
Error TooManySlots(const std::string& name, std::string_view value, std::string_view whose) {
  return Error{ErrorKind::kInvalid, name + "='" + std::string(value) + "': " + std::string(whose) +
                                        " add up to more than " +
                                        std::to_string(std::numeric_limits<int>::max())};
}

/// Sums "id:<id>,slots:<n>[;id:<id>,slots:<n>...]".
Result<int> SumSlots(const std::string& name, std::string_view value) {
  int total = 0;
  const std::string_view whole = value;
  const Error malformed{
      ErrorKind::kInvalid,
      name + "='" + std::string(value) + "': expected id:<id>,slots:<n>[;id:<id>,slots:<n>...]"};
  while (true) {
    const size_t semicolon = value.find(';');
    const std::string_view pair = value.substr(0, semicolon);
    const size_t comma = pair.find(',');
    if (!pair.starts_with("id:") || comma == std::string_view::npos ||
        !pair.substr(comma + 1).starts_with("slots:")) {
      return malformed;
    }
    const std::optional<int> slots = ParseCount(pair.substr(comma + 1 + 6));
    if (!slots) return malformed;
    if (__builtin_add_overflow(total, *slots, &total)) {
      return TooManySlots(name, whole, "its slots");
    }
    if (semicolon == std::string_view::npos) return total;
    value.remove_prefix(semicolon + 1);
  }
}

bool Matches(const std::string& text, bool allow_leading_digit) {
  if (text.empty()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool ok = (c >= 'a' && c <= 'z') || c == '_' ||
                    (std::isdigit(static_cast<unsigned char>(c)) && (i > 0 || allow_leading_digit));
    if (!ok) return false;
  }
  return true;
}

}  // namespace

EnvironmentLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<std::optional<int>> CTestResourceSlots(const std::string& type,
                                              const EnvironmentLookup& lookup) {
  const std::optional<std::string> count_text = lookup("CTEST_RESOURCE_GROUP_COUNT");
  if (!count_text) return std::optional<int>();
  const std::optional<int> count = ParseCount(*count_text);
  if (!count) {
    return Error{ErrorKind::kInvalid, "CTEST_RESOURCE_GROUP_COUNT='" + *count_text +
                                          "': expected a non-negative integer"};
  }
  int total = 0;
  for (int group = 0; group < *count; ++group) {
    const std::string name = "CTEST_RESOURCE_GROUP_" + std::to_string(group);
    const std::optional<std::string> types = lookup(name);
    if (!types) {
      return Error{ErrorKind::kInvalid,
                   name + " is not set although CTEST_RESOURCE_GROUP_COUNT=" + *count_text};
    }
    if (!ListsType(*types, type)) continue;
    const std::string slots_name = name + "_" + Uppercase(type);
    const std::optional<std::string> slots = lookup(slots_name);
    if (!slots) {
      return Error{ErrorKind::kInvalid, slots_name + " is not set although " + name + "=" + *types};
    }
    Result<int> sum = SumSlots(slots_name, *slots);
    if (!sum) return sum.error();
    if (__builtin_add_overflow(total, *sum, &total)) {
      return TooManySlots(slots_name, *slots, "the slots of the groups so far");
    }
  }
  if (total == 0) return std::optional<int>();  // The test asked for none of ours.
  return std::optional<int>(total);
}

Result<std::string> ResourceSpecJson(int slots, const std::string& type, const std::string& id) {
  if (slots < 1) {
    return Error{ErrorKind::kInvalid, "--slots must be at least 1, got " + std::to_string(slots)};
  }
  if (!Matches(type, /*allow_leading_digit=*/false)) {
    return Error{ErrorKind::kInvalid, "resource type '" + type +
                                          "' must match ^[a-z_][a-z0-9_]*$ (ctest ignores "
                                          "other types silently)"};
  }
  if (!Matches(id, /*allow_leading_digit=*/true)) {
    return Error{ErrorKind::kInvalid, "resource id '" + id + "' must match ^[a-z0-9_]+$"};
  }
  nlohmann::json instance = {{"id", id}, {"slots", slots}};
  nlohmann::json types = nlohmann::json::object();
  types[type] = nlohmann::json::array({instance});
  nlohmann::json spec = nlohmann::json::object();
  spec["version"] = {{"major", 1}, {"minor", 0}};
  spec["local"] = nlohmann::json::array({types});
  return spec.dump(2) + "\n";
}

}  // namespace tierun
