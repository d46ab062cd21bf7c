// The hand-written JSON (json_text.h, RunRecordText) must be what
// nlohmann::json writes for the same values: readers parse both, and people
// diff report.json files written before and after.

#include "src/json_text.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "src/run_record.h"

namespace tierun {
namespace {

using nlohmann::json;

RunRecord TypicalRecord() {
  RunRecord record;
  record.tier = "T0";
  record.subtest = "hello";
  record.run = 3;
  record.attempts = 2;
  record.status = "passed";
  record.passed = true;
  record.score = 1.0;
  record.cost_usd = 0.0123;
  record.tokens = {1200, 345};
  record.exit_code = 0;
  record.duration_s = 0.000412345;
  record.started_at = "2026-11-29T00:04:26.123Z";
  record.finished_at = "2026-11-29T00:04:27.001Z";
  return record;
}

TEST(RunRecordTextTest, IsWhatJsonDumpWrites) {
  const RunRecord record = TypicalRecord();
  EXPECT_EQ(RunRecordText(record), json(record).dump(2));
}

TEST(RunRecordTextTest, AbsentValuesAreNull) {
  RunRecord record = TypicalRecord();
  record.cost_usd.reset();
  record.exit_code.reset();
  record.signal = 9;
  record.status = "crashed";
  record.passed = false;
  record.score = 0;
  EXPECT_EQ(RunRecordText(record), json(record).dump(2));
}

TEST(RunRecordTextTest, NumbersAreFormattedAsJsonFormatsThem) {
  RunRecord record = TypicalRecord();
  for (double value : {0.0, 0.5, 1.0, 100000.0, 1e-5, 1e21, 123456789.125, -2.5,
                       std::numeric_limits<double>::min(), std::numeric_limits<double>::max()}) {
    record.score = value;
    record.duration_s = value;
    record.cost_usd = value;
    EXPECT_EQ(RunRecordText(record), json(record).dump(2)) << value;
  }
  record.tokens = {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()};
  EXPECT_EQ(RunRecordText(record), json(record).dump(2));
}

TEST(RunRecordTextTest, StringsAreEscapedAsJsonEscapesThem) {
  RunRecord record = TypicalRecord();
  record.subtest = std::string("quote\" back\\ nl\n tab\t cr\r bs\b ff\f nul") + '\0' +
                   "\x01\x1f del\x7f caf\xc3\xa9";
  record.tier = "tier with spaces/and/slashes";
  EXPECT_EQ(RunRecordText(record), json(record).dump(2));
}

TEST(JsonLineTest, ParsesToTheMembersAdded) {
  const std::string text = JsonLine()
                               .AddString("tier", "T\"0\n")
                               .AddInteger("run", -7)
                               .AddBool("implicit_slot", true)
                               .AddNumber("seconds", 0.25)
                               .Finish();
  EXPECT_EQ(text, R"({"tier":"T\"0\n","run":-7,"implicit_slot":true,"seconds":0.25})");
  EXPECT_EQ(json::parse(text),
            (json{{"tier", "T\"0\n"}, {"run", -7}, {"implicit_slot", true}, {"seconds", 0.25}}));
}

TEST(JsonLineTest, EmptyIsAnEmptyObject) { EXPECT_EQ(JsonLine().Finish(), "{}"); }

}  // namespace
}  // namespace tierun
