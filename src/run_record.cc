#include "src/run_record.h"

#include <cmath>
#include <cstdint>
#include <utility>

#include "src/json_text.h"
#include "src/plan.h"

namespace tierun {

using nlohmann::json;

static_assert(kMaxRecordAttempts == kMaxAttempts, "a record sums at most kMaxAttempts attempts");

namespace {

// nlohmann's own get<int>() accepts 1.5 and true; a run record that says
// "run": true was not written by us, so it is refused rather than guessed at.
[[noreturn]] void ThrowType(const json& value, const std::string& key,
                            const std::string& expected) {
  throw json::type_error::create(
      302, "\"" + key + "\" must be " + expected + ", but is " + value.type_name(), &value);
}

const json& Required(const json& object, const std::string& key) {
  return object.at(key);  // Throws out_of_range (403) naming the key.
}

/// The value of an optional key, nullptr when it is absent or null.
const json* Optional(const json& object, const std::string& key) {
  const auto found = object.find(key);
  if (found == object.end() || found->is_null()) return nullptr;
  return &*found;
}

std::string AsString(const json& value, const std::string& key) {
  if (!value.is_string()) ThrowType(value, key, "a string");
  return value.get<std::string>();
}

int64_t AsInteger(const json& value, const std::string& key) {
  if (!value.is_number_integer()) ThrowType(value, key, "an integer");
  return value.get<int64_t>();
}

int AsInt(const json& value, const std::string& key) {
  const int64_t wide = AsInteger(value, key);
  if (wide < INT32_MIN || wide > INT32_MAX) ThrowType(value, key, "a 32-bit integer");
  return static_cast<int>(wide);
}

// The parser refuses 1e999, but a json built in code may hold infinity or
// NaN; metrics must never see one.
double AsFinite(const json& value, const std::string& key) {
  if (!value.is_number() || !std::isfinite(value.get<double>())) {
    ThrowType(value, key, "a finite number");
  }
  return value.get<double>();
}

/// A finite number within [min, max]: the ranges of run_record.h.
double AsBounded(const json& value, const std::string& key, double min, double max) {
  const double number = AsFinite(value, key);
  if (number < min || number > max) {
    throw json::out_of_range::create(
        406, "\"" + key + "\" is " + value.dump() + ", outside the range tierun accepts", &value);
  }
  return number;
}

int64_t AsTokenCount(const json& value, const std::string& key) {
  // An unsigned value past INT64_MAX would wrap in get<int64_t>().
  if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{INT64_MAX}) {
    ThrowType(value, key, "a token count from 0 to " + std::to_string(kMaxRecordTokens));
  }
  const int64_t count = AsInteger(value, key);
  if (count < 0 || count > kMaxRecordTokens) {
    ThrowType(value, key, "a token count from 0 to " + std::to_string(kMaxRecordTokens));
  }
  return count;
}

bool AsBool(const json& value, const std::string& key) {
  if (!value.is_boolean()) ThrowType(value, key, "a boolean");
  return value.get<bool>();
}

json OrNull(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }
json OrNull(const std::optional<int>& value) { return value ? json(*value) : json(nullptr); }

void ReadOptionalFields(const json& object, RunRecord& record) {
  if (const json* attempts = Optional(object, "attempts")) {
    record.attempts = AsInt(*attempts, "attempts");
  }
  if (const json* cost = Optional(object, "cost_usd"))
    record.cost_usd = AsBounded(*cost, "cost_usd", 0, kMaxRecordCostUsd);
  if (const json* tokens = Optional(object, "tokens")) {
    if (!tokens->is_object()) ThrowType(*tokens, "tokens", "an object");
    if (const json* input = Optional(*tokens, "input")) {
      record.tokens.input = AsTokenCount(*input, "tokens.input");
    }
    if (const json* output = Optional(*tokens, "output")) {
      record.tokens.output = AsTokenCount(*output, "tokens.output");
    }
  }
  if (const json* code = Optional(object, "exit_code"))
    record.exit_code = AsInt(*code, "exit_code");
  if (const json* signal = Optional(object, "signal")) record.signal = AsInt(*signal, "signal");
  if (const json* duration = Optional(object, "duration_s")) {
    record.duration_s = AsFinite(*duration, "duration_s");
  }
  if (const json* started = Optional(object, "started_at")) {
    record.started_at = AsString(*started, "started_at");
  }
  if (const json* finished = Optional(object, "finished_at")) {
    record.finished_at = AsString(*finished, "finished_at");
  }
}

}  // namespace

void AddTokensSaturating(TokenCounts& sum, const TokenCounts& more) {
  for (auto [total, add] : {std::pair{&sum.input, more.input}, {&sum.output, more.output}}) {
    if (__builtin_add_overflow(*total, add, total)) *total = add < 0 ? INT64_MIN : INT64_MAX;
  }
}

bool TokenCountSaturated(int64_t count) { return count == INT64_MAX; }

void to_json(json& out, const RunRecord& record) {
  out = json{
      {"tier", record.tier},
      {"subtest", record.subtest},
      {"run", record.run},
      {"attempts", record.attempts},
      {"status", record.status},
      {"passed", record.passed},
      {"score", record.score},
      {"cost_usd", OrNull(record.cost_usd)},
      {"tokens", {{"input", record.tokens.input}, {"output", record.tokens.output}}},
      {"exit_code", OrNull(record.exit_code)},
      {"signal", OrNull(record.signal)},
      {"duration_s", record.duration_s},
      {"started_at", record.started_at},
      {"finished_at", record.finished_at},
  };
}

namespace {

/// Members of a dump(2) object, in the order added (sorted, as json's map
/// orders them): "{\n  \"key\": value,\n ... \n}".
class PrettyObject {
 public:
  explicit PrettyObject(std::string indent) : indent_(std::move(indent)) {}
  std::string& Key(std::string_view key) {
    text_ += text_.size() == 1 ? "\n" : ",\n";
    text_ += indent_ + "  ";
    AppendJsonString(text_, key);
    text_ += ": ";
    return text_;
  }
  void String(std::string_view key, std::string_view value) { AppendJsonString(Key(key), value); }
  void Integer(std::string_view key, int64_t value) { Key(key) += std::to_string(value); }
  void Number(std::string_view key, double value) { AppendJsonNumber(Key(key), value); }
  void Bool(std::string_view key, bool value) { Key(key) += value ? "true" : "false"; }
  void Null(std::string_view key) { Key(key) += "null"; }
  std::string Finish() && { return std::move(text_) + "\n" + indent_ + "}"; }

 private:
  std::string indent_;
  std::string text_ = "{";
};

}  // namespace

std::string RunRecordText(const RunRecord& record) {
  PrettyObject object("");
  object.Integer("attempts", record.attempts);
  record.cost_usd ? object.Number("cost_usd", *record.cost_usd) : object.Null("cost_usd");
  object.Number("duration_s", record.duration_s);
  record.exit_code ? object.Integer("exit_code", *record.exit_code) : object.Null("exit_code");
  object.String("finished_at", record.finished_at);
  object.Bool("passed", record.passed);
  object.Integer("run", record.run);
  object.Number("score", record.score);
  record.signal ? object.Integer("signal", *record.signal) : object.Null("signal");
  object.String("started_at", record.started_at);
  object.String("status", record.status);
  object.String("subtest", record.subtest);
  object.String("tier", record.tier);
  PrettyObject tokens("  ");
  tokens.Integer("input", record.tokens.input);
  tokens.Integer("output", record.tokens.output);
  object.Key("tokens") += std::move(tokens).Finish();
  return std::move(object).Finish();
}

void from_json(const json& in, RunRecord& record) {
  if (!in.is_object()) ThrowType(in, "run record", "an object");
  // Parse into a fresh record so a throw never leaves `record` half-filled.
  RunRecord parsed;
  parsed.tier = AsString(Required(in, "tier"), "tier");
  parsed.subtest = AsString(Required(in, "subtest"), "subtest");
  parsed.run = AsInt(Required(in, "run"), "run");
  if (parsed.run < 1) ThrowType(in.at("run"), "run", "a run number >= 1");
  parsed.status = AsString(Required(in, "status"), "status");
  parsed.passed = AsBool(Required(in, "passed"), "passed");
  parsed.score = AsBounded(Required(in, "score"), "score", -kMaxScoreMagnitude, kMaxScoreMagnitude);
  ReadOptionalFields(in, parsed);
  record = std::move(parsed);
}

}  // namespace tierun
