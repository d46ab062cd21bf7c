#include "src/reports.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "src/agent_process.h"
#include "src/atomic_file.h"
#include "tests/support/jobserver_printers.h"
#include "tests/support/plan_builders.h"
#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

using jobserver::Result;
using test::MakePlan;
using test::MakeRecord;
using test::MakeTier;
using ::testing::ElementsAre;

using jobserver::ErrorKind;
using nlohmann::json;

RunRecord FullRecord() {
  RunRecord record = MakeRecord("T1", "03", 7, 0.75, true, 0.0125);
  record.attempts = 2;
  record.tokens = {12345, 678};
  record.exit_code = 0;
  record.signal = 15;
  record.duration_s = 12.5;
  record.started_at = "2026-11-29T00:04:26.123Z";
  record.finished_at = "2026-11-29T00:04:38.623Z";
  return record;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

/// JSON has no infinity or NaN; a report that contains one is not JSON.
void ExpectNoNonFinite(const std::string& text) {
  const std::string lower = Lower(text);
  EXPECT_EQ(lower.find("inf"), std::string::npos) << text;
  EXPECT_EQ(lower.find("nan"), std::string::npos) << text;
}

std::vector<std::string> Keys(const json& object) {
  std::vector<std::string> keys;
  for (const auto& item : object.items()) keys.push_back(item.key());
  return keys;  // nlohmann::json keeps keys sorted.
}

// ---- RunRecord --------------------------------------------------------------

// Every field survives dump and parse.
TEST(RunRecordTest, RoundTripsThroughJsonText) {
  const RunRecord full = FullRecord();
  EXPECT_EQ(json::parse(json(full).dump(2)).get<RunRecord>(), full);
  RunRecord sparse = MakeRecord("T0", "00", 1, 0, false, std::nullopt);
  sparse.status = "crashed";
  EXPECT_EQ(json::parse(json(sparse).dump()).get<RunRecord>(), sparse);
}

// The keys of report.json; absent optionals are written as null.
TEST(RunRecordTest, WritesEveryKeyAndNullForAbsent) {
  const json written = MakeRecord("T0", "00", 1, 0, false, std::nullopt);
  EXPECT_EQ(Keys(written),
            (std::vector<std::string>{"attempts", "cost_usd", "duration_s", "exit_code",
                                      "finished_at", "passed", "run", "score", "signal",
                                      "started_at", "status", "subtest", "tier", "tokens"}));
  const std::string text = written.dump(2);
  EXPECT_NE(text.find("\"cost_usd\": null"), std::string::npos) << text;
  EXPECT_NE(text.find("\"exit_code\": null"), std::string::npos) << text;
  EXPECT_NE(text.find("\"signal\": null"), std::string::npos) << text;
  EXPECT_EQ(json(FullRecord())["tokens"], (json{{"input", 12345}, {"output", 678}}));
}

// Only the required keys: everything else takes its default.
TEST(RunRecordTest, OptionalKeysDefault) {
  const RunRecord record =
      json::parse(R"({"tier": "T0", "subtest": "00", "run": 2, "status": "timeout",
                      "passed": false, "score": 0.5, "cost_usd": null})")
          .get<RunRecord>();
  RunRecord expected = MakeRecord("T0", "00", 2, 0.5, false, std::nullopt);
  expected.status = "timeout";
  EXPECT_EQ(record, expected);
  EXPECT_EQ(record.attempts, 1);
  EXPECT_EQ(record.tokens, (TokenCounts{0, 0}));
}

/// nlohmann says "key 'run' not found"; our own checks say "\"run\" must be".
bool NamesKey(const std::string& message, const std::string& key) {
  return message.find("'" + key + "'") != std::string::npos ||
         message.find("\"" + key + "\"") != std::string::npos;
}

// Missing or ill-typed keys throw a nlohmann exception naming the key (which
// ReadRunRecords turns into an error naming the file).
TEST(RunRecordTest, MalformedRecordsThrow) {
  const json valid = FullRecord();
  ASSERT_NO_THROW(valid.get<RunRecord>());
  struct Case {
    std::string name;
    std::string key;  // The message must name it.
    std::function<void(json&)> mutate;
  };
  const std::vector<Case> cases = {
      {"not an object", "run record", [](json& j) { j = json::array(); }},
      {"tier missing", "tier", [](json& j) { j.erase("tier"); }},
      {"tier a number", "tier", [](json& j) { j["tier"] = 5; }},
      {"subtest missing", "subtest", [](json& j) { j.erase("subtest"); }},
      {"run missing", "run", [](json& j) { j.erase("run"); }},
      {"run a string", "run", [](json& j) { j["run"] = "1"; }},
      {"run fractional", "run", [](json& j) { j["run"] = 1.5; }},
      {"run a boolean", "run", [](json& j) { j["run"] = true; }},
      {"run zero", "run", [](json& j) { j["run"] = 0; }},
      {"status missing", "status", [](json& j) { j.erase("status"); }},
      {"status null", "status", [](json& j) { j["status"] = nullptr; }},
      {"passed missing", "passed", [](json& j) { j.erase("passed"); }},
      {"passed a number", "passed", [](json& j) { j["passed"] = 1; }},
      {"passed a string", "passed", [](json& j) { j["passed"] = "true"; }},
      {"score missing", "score", [](json& j) { j.erase("score"); }},
      {"score a string", "score", [](json& j) { j["score"] = "0.5"; }},
      {"cost a string", "cost_usd", [](json& j) { j["cost_usd"] = "$1"; }},
      {"tokens an array", "tokens", [](json& j) { j["tokens"] = json::array(); }},
      {"tokens fractional", "tokens.input", [](json& j) { j["tokens"]["input"] = 1.5; }},
      {"attempts a string", "attempts", [](json& j) { j["attempts"] = "2"; }},
      {"exit code fractional", "exit_code", [](json& j) { j["exit_code"] = 0.5; }},
      {"started_at a number", "started_at", [](json& j) { j["started_at"] = 0; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json broken = valid;
    c.mutate(broken);
    try {
      broken.get<RunRecord>();
      ADD_FAILURE() << "no exception";
    } catch (const json::exception& e) {
      EXPECT_TRUE(NamesKey(e.what(), c.key)) << e.what();
    }
  }
}

// The parser refuses 1e999, but a json built in code can hold infinity or
// NaN; neither may reach the metrics.
TEST(RunRecordTest, RejectsNonFiniteNumbers) {
  const double kInfinity = std::numeric_limits<double>::infinity();
  const double kNan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::pair<std::string, double>> cases = {
      {"score", kInfinity}, {"score", kNan}, {"cost_usd", kInfinity}, {"duration_s", -kInfinity}};
  for (const auto& [key, value] : cases) {
    SCOPED_TRACE(key);
    json record = FullRecord();
    record[key] = value;
    EXPECT_THROW(record.get<RunRecord>(), json::exception);
  }
}

// ---- run directories ----------------------------------------------------------

TEST(ReportsTest, RunDirectoryNames) {
  const std::vector<std::pair<int, std::string>> cases = {
      {1, "run_01"}, {9, "run_09"}, {10, "run_10"}, {99, "run_99"}, {100, "run_100"}};
  for (const auto& [run, name] : cases) EXPECT_EQ(RunDirectoryName(run), name) << run;
  EXPECT_EQ(RunDirectory("results/demo", "T0", "00", 3), "results/demo/T0/00/run_03");
}

// ---- ReadRunRecords ------------------------------------------------------------

class ReadRunRecordsTest : public ::testing::Test {
 protected:
  std::string ReportPath(const std::string& subtest, int run) const {
    return RunDirectory(dir_.path(), "T0", subtest, run) + "/report.json";
  }
  void Write(const std::string& subtest, int run, const std::string& text) const {
    ASSERT_TRUE(WriteFileAtomically(ReportPath(subtest, run), text).ok());
  }
  void WriteRecord(const RunRecord& record) const {
    Write(record.subtest, record.run, json(record).dump(2) + "\n");
  }

  test::ScopedTempDir dir_;
  const Plan plan_ = MakePlan("demo", {MakeTier("T0", {"00"}, 3)});
};

// A report that does not parse is an error naming the file; one that is
// missing is a run not done yet; files of unplanned runs are not read.
TEST_F(ReadRunRecordsTest, MalformedIsAnErrorMissingIsNotDone) {
  const RunRecord first = MakeRecord("T0", "00", 1, 1, true, 0.01);
  WriteRecord(first);
  Write("00", 2, "{\"tier\": ");  // run_02 malformed, run_03 missing
  Write("00", 4, "garbage");      // not in the plan (runs = 3): never read

  auto broken = ReadRunRecords(dir_.path(), plan_);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(broken.error().message.rfind(ReportPath("00", 2) + ": ", 0), 0u)
      << broken.error().message;
  EXPECT_NE(broken.error().message.find("parse error"), std::string::npos)
      << broken.error().message;

  const RunRecord second = MakeRecord("T0", "00", 2, 0, false, std::nullopt);
  WriteRecord(second);
  auto records = ReadRunRecords(dir_.path(), plan_);
  ASSERT_TRUE(records.ok()) << records.error().message;
  EXPECT_EQ(*records, (std::vector<RunRecord>{first, second}));
}

// Valid JSON that is not a run record names the file and the bad key.
TEST_F(ReadRunRecordsTest, RecordMissingAKeyNamesFileAndKey) {
  json record = MakeRecord("T0", "00", 1, 1, true, 0.01);
  record.erase("score");
  Write("00", 1, record.dump());
  auto broken = ReadRunRecords(dir_.path(), plan_);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(broken.error().message.rfind(ReportPath("00", 1) + ": ", 0), 0u)
      << broken.error().message;
  EXPECT_NE(broken.error().message.find("score"), std::string::npos) << broken.error().message;
}

// A record must describe the run whose directory holds it.
TEST_F(ReadRunRecordsTest, RecordInTheWrongDirectoryIsAnError) {
  Write("00", 2, json(MakeRecord("T0", "00", 1, 1, true, 0.01)).dump());
  auto broken = ReadRunRecords(dir_.path(), plan_);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().message, ReportPath("00", 2) + ": the record is for T0/00/run_01");
}

// Only a missing file means "not done": a path stat() cannot check (here a
// name longer than NAME_MAX) is an error, not a run to start again.
TEST_F(ReadRunRecordsTest, UncheckablePathIsAnError) {
  const Plan plan = MakePlan("demo", {MakeTier("T0", {std::string(300, 'a')}, 1)});
  // The directory above must exist, or lookup stops there with ENOENT.
  ASSERT_TRUE(MakeDirectories(dir_.Child("T0")).ok());
  auto broken = ReadRunRecords(dir_.path(), plan);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().kind, ErrorKind::kSystem);
  EXPECT_NE(broken.error().message.find("cannot stat"), std::string::npos)
      << broken.error().message;
}

// A results directory with nothing done yet reads as no records.
TEST_F(ReadRunRecordsTest, EmptyDirectoryHasNoRecords) {
  auto records = ReadRunRecords(dir_.path() + "/not-created-yet", plan_);
  ASSERT_TRUE(records.ok()) << records.error().message;
  EXPECT_TRUE(records->empty());
}

// A runner of the whole plan holds every outcome: none is read from disk
// (a garbage file stands where a report would be read).
TEST_F(ReadRunRecordsTest, WholeRunnerReadsNothing) {
  Write("00", 1, "garbage");
  const RunSelection whole;
  PlanResults results(plan_);
  results.Add(MakeRecord("T0", "00", 2, 0, false, 0.0));
  const jobserver::Status read = ReadPlanResults(dir_.path(), plan_, results, &whole);
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(results.count(), 1u);
  EXPECT_EQ(results.Find("T0", "00", 1), nullptr);
}

// A scoped runner holds the outcomes of its selection only: the rest are
// read from disk, where other runners wrote them; a run of its selection it
// holds no outcome of is not done, whatever lies on disk.
TEST_F(ReadRunRecordsTest, ScopedRunnerReadsOnlyRunsOutsideItsSelection) {
  WriteRecord(MakeRecord("T0", "00", 1, 1, true, 0.01));  // Another runner's.
  Write("00", 2, "garbage");                              // Ours: never read.
  Result<RunSelection> ours = SelectRuns(plan_, {}, {"T0/00/2", "T0/00/3"});
  ASSERT_TRUE(ours.ok()) << ours.error().message;
  PlanResults results(plan_);
  results.Add(MakeRecord("T0", "00", 3, 0.5, false, 0.02));
  const jobserver::Status read = ReadPlanResults(dir_.path(), plan_, results, &*ours);
  ASSERT_TRUE(read.ok()) << read.error().message;
  ASSERT_EQ(results.count(), 2u);
  ASSERT_NE(results.Find("T0", "00", 1), nullptr);
  EXPECT_EQ(results.Find("T0", "00", 1)->cost_usd, 0.01);
  EXPECT_EQ(results.Find("T0", "00", 2), nullptr);
  ASSERT_NE(results.Find("T0", "00", 3), nullptr);
  EXPECT_EQ(results.Find("T0", "00", 3)->score, 0.5);
}

// The table keeps each run's first outcome and ignores runs the plan does
// not have; the indices and the ids find the same slot.
TEST(PlanResultsTest, FirstOutcomeWinsAndUnplannedRunsAreIgnored) {
  const Plan plan = MakePlan("demo", {MakeTier("T0", {"00", "01"}, 2), MakeTier("T1", {"x"}, 1)});
  PlanResults results(plan);
  results.Add(MakeRecord("T0", "01", 2, 0.25, true, 0.0));
  results.Add(MakeRecord("T0", "01", 2, 0.75, true, 0.0));  // A later record: ignored.
  results.Add(MakeRecord("T0", "01", 3, 1, true, 0.0));     // No run 3.
  results.Add(MakeRecord("T9", "01", 1, 1, true, 0.0));     // No tier T9.
  results.Add(MakeRecord("T1", "x", 1, 0, false, 0.0));
  EXPECT_EQ(results.count(), 2u);
  ASSERT_NE(results.Find(0, 1, 2), nullptr);
  EXPECT_EQ(results.Find(0, 1, 2), results.Find("T0", "01", 2));
  EXPECT_EQ(results.Find(0, 1, 2)->score, 0.25);
  EXPECT_EQ(results.Find(1, 0, 1), results.Find("T1", "x", 1));
  EXPECT_EQ(results.Find(0, 0, 1), nullptr);
  EXPECT_EQ(results.Find("T0", "01", 3), nullptr);
}

// ---- JSON reports ------------------------------------------------------------------

// Runs that never passed: every cost-of-pass is null, never Infinity.
TEST(ReportsTest, JsonReportsWriteNullNotInfinity) {
  const Plan plan = MakePlan("demo", {MakeTier("T0", {"00", "01"}, 2)});
  const std::vector<RunRecord> records = {MakeRecord("T0", "00", 1, 0.2, false, 0.01),
                                          MakeRecord("T0", "00", 2, 0.4, false, 0.02)};
  const ExperimentMetrics metrics = ComputeMetrics(plan, records);
  ASSERT_EQ(metrics.tiers.size(), 1u);

  const std::string subtest = SubtestReportJson(metrics.tiers[0].subtests.at(0)).dump(2);
  EXPECT_NE(subtest.find("\"cost_of_pass\": null"), std::string::npos) << subtest;
  ExpectNoNonFinite(subtest);

  const std::string tier = TierReportJson(metrics.tiers[0]).dump(2);
  EXPECT_NE(tier.find("\"best_subtest\": \"00\""), std::string::npos) << tier;
  EXPECT_NE(tier.find("\"cost_of_pass\": null"), std::string::npos) << tier;
  ExpectNoNonFinite(tier);

  const std::string experiment = ExperimentReportJson(metrics).dump(2);
  EXPECT_NE(experiment.find("\"frontier_cost_of_pass\": null"), std::string::npos) << experiment;
  EXPECT_NE(experiment.find("\"frontier_tier\": null"), std::string::npos) << experiment;
  ExpectNoNonFinite(experiment);
}

// Every metric is in the JSON, under a stable name.
TEST(ReportsTest, JsonReportsCarryEveryMetric) {
  const Plan plan = MakePlan("demo", {MakeTier("T0", {"00"}, 2), MakeTier("T1", {"00"}, 1)});
  // 0.03 / 1 run, passed: cost-of-pass 0.03. T1 has no runs: best null.
  const std::vector<RunRecord> records = {MakeRecord("T0", "00", 1, 0.9, true, 0.03)};
  const ExperimentMetrics metrics = ComputeMetrics(plan, records);
  const json subtest = SubtestReportJson(metrics.tiers.at(0).subtests.at(0));
  EXPECT_EQ(Keys(subtest),
            (std::vector<std::string>{"consistency", "cost_of_pass", "expected_runs", "mean_cost",
                                      "mean_score", "median_score", "pass_rate", "passed", "runs",
                                      "stdev_score", "subtest", "tier", "tokens", "total_cost"}));
  EXPECT_EQ(subtest["expected_runs"], 2);
  EXPECT_EQ(subtest["runs"], 1);
  EXPECT_DOUBLE_EQ(subtest["cost_of_pass"].get<double>(), 0.03);

  const json tier = TierReportJson(metrics.tiers.at(1));
  EXPECT_EQ(Keys(tier),
            (std::vector<std::string>{"best_subtest", "cost_of_pass", "expected_runs", "passed",
                                      "runs", "subtests", "tier", "tokens", "total_cost"}));
  EXPECT_TRUE(tier["best_subtest"].is_null());
  EXPECT_EQ(tier["subtests"].size(), 1u);

  const json experiment = ExperimentReportJson(metrics);
  EXPECT_EQ(Keys(experiment),
            (std::vector<std::string>{"expected_runs", "frontier_cost_of_pass", "frontier_tier",
                                      "name", "passed", "runs", "tiers", "tokens", "total_cost"}));
  EXPECT_EQ(experiment["frontier_tier"], "T0");
  EXPECT_DOUBLE_EQ(experiment["frontier_cost_of_pass"].get<double>(), 0.03);
  EXPECT_EQ(experiment["expected_runs"], 3);
  EXPECT_EQ(experiment["tiers"].size(), 2u);
}

// ---- report.md ---------------------------------------------------------------------

// T0: 00 ran 0.9 pass $0.03 and 0.2 fail $0.01; 01 ran 0.4 fail $0.02 of 2.
//   00: median 0.55, pass rate 50 %, mean cost 0.02, cost-of-pass 0.04,
//       stdev sqrt(2 * 0.35^2) = 0.494975, consistency 1 - 0.494975/0.55 = 0.100045.
//   01: median 0.4 -> best is 00; T0: 3/4 runs, 1 passed = 33.3 %, $0.06.
// T1: 00 ran 0 fail $0.005: best 00 with no cost-of-pass. Frontier: T0, $0.04.
std::vector<RunRecord> ExampleRecords() {
  return {MakeRecord("T0", "00", 1, 0.9, true, 0.03), MakeRecord("T0", "00", 2, 0.2, false, 0.01),
          MakeRecord("T0", "01", 1, 0.4, false, 0.02), MakeRecord("T1", "00", 1, 0, false, 0.005)};
}
Plan ExamplePlan() {
  return MakePlan("demo", {MakeTier("T0", {"00", "01"}, 2), MakeTier("T1", {"00"}, 1)});
}

TEST(ReportsTest, MarkdownHasTierRowsFrontierAndSubtestRows) {
  const std::string md = RenderReportMarkdown(ComputeMetrics(ExamplePlan(), ExampleRecords()));
  const std::vector<std::string> expected = {
      "# Report: demo\n",
      "| tier | runs | passed | pass rate | total cost | cost-of-pass | best sub-test |\n",
      "| T0 | 3/4 | 1 | 33.3 % | $0.0600 | $0.0400 | 00 |\n",
      "| T1 | 1/1 | 0 | 0.0 % | $0.0050 | — | 00 |\n",
      "Frontier cost-of-pass: $0.0400 (tier T0).\n",
      "| T0 | 00 | 2/2 | 1 | 50.0 % | 0.5500 | 0.5500 | 0.4950 | 0.1000 | $0.0400 | $0.0200 | "
      "$0.0400 |\n",
      "| T0 | 01 | 1/2 | 0 | 0.0 % | 0.4000 | 0.4000 | 0.0000 | 1.0000 | $0.0200 | $0.0200 | — |\n",
      "| T1 | 00 | 1/1 | 0 | 0.0 % | 0.0000 | 0.0000 | 0.0000 | 0.0000 | $0.0050 | $0.0050 | — |\n",
  };
  for (const std::string& line : expected) {
    EXPECT_NE(md.find(line), std::string::npos) << "missing: " << line << "in:\n" << md;
  }
  // Tiers before the frontier, the frontier before the sub-tests.
  EXPECT_LT(md.find("| T1 | 1/1"), md.find("Frontier"));
  EXPECT_LT(md.find("Frontier"), md.find("| T0 | 00 |"));
  ExpectNoNonFinite(md);
}

// Nothing passed (and a tier not started): dashes and a sentence, no numbers
// made up.
TEST(ReportsTest, MarkdownSaysWhenNoTierPassed) {
  const Plan plan = MakePlan("demo", {MakeTier("T0", {"00"}, 2), MakeTier("T1", {"00"}, 1)});
  const std::string md =
      RenderReportMarkdown(ComputeMetrics(plan, {MakeRecord("T0", "00", 1, 0, false, 0.01)}));
  EXPECT_NE(md.find("| T0 | 1/2 | 0 | 0.0 % | $0.0100 | — | 00 |\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| T1 | 0/1 | 0 | — | $0.0000 | — | — |\n"), std::string::npos) << md;
  EXPECT_NE(md.find("Frontier cost-of-pass: none"), std::string::npos) << md;
  EXPECT_NE(md.find("| T1 | 00 | 0/1 | 0 | — |"), std::string::npos) << md;
  ExpectNoNonFinite(md);
}

// ---- junit.xml ---------------------------------------------------------------------

/// Whether xml[i], an '&', starts one of the five predefined entities or a
/// character reference we write.
bool EntityAt(const std::string& xml, size_t i) {
  static const char* const kEntities[] = {"&amp;",  "&lt;", "&gt;",  "&quot;",
                                          "&apos;", "&#9;", "&#10;", "&#13;"};
  for (const char* entity : kEntities) {
    if (xml.compare(i, strlen(entity), entity) == 0) return true;
  }
  return false;
}

/// A small well-formedness check: tags nest and close, attribute quotes pair
/// up, every '&' starts an entity, and no '<' or '>' appears outside markup.
::testing::AssertionResult IsWellFormedXml(const std::string& xml) {
  std::vector<std::string> open;
  for (size_t i = 0; i < xml.size(); ++i) {
    if (xml[i] == '&' && !EntityAt(xml, i)) {
      return ::testing::AssertionFailure() << "bare & at " << i;
    }
    if (xml[i] == '>') return ::testing::AssertionFailure() << "stray > at " << i;
    if (xml[i] != '<') continue;
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) return ::testing::AssertionFailure() << "unclosed tag at " << i;
    const std::string tag = xml.substr(i + 1, end - i - 1);
    if (tag.empty() || tag.find('<') != std::string::npos ||
        std::count(tag.begin(), tag.end(), '"') % 2 != 0) {
      return ::testing::AssertionFailure() << "bad tag <" << tag << ">";
    }
    for (size_t j = tag.find('&'); j != std::string::npos; j = tag.find('&', j + 1)) {
      if (!EntityAt(tag, j)) return ::testing::AssertionFailure() << "bare & in <" << tag << ">";
    }
    if (tag.front() == '/') {
      if (open.empty() || open.back() != tag.substr(1)) {
        return ::testing::AssertionFailure() << "mismatched </" << tag.substr(1) << ">";
      }
      open.pop_back();
    } else if (tag.front() != '?' && tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find(' ')));
    }
    i = end;
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "<" << open.back() << "> not closed";
  return ::testing::AssertionSuccess();
}

// The checker itself must reject what it is meant to catch.
TEST(ReportsTest, WellFormedCheckerRejectsBrokenXml) {
  EXPECT_TRUE(IsWellFormedXml("<?xml?>\n<a x=\"&lt;\"><b/></a>\n"));
  EXPECT_FALSE(IsWellFormedXml("<a x=\"<\"></a>"));
  EXPECT_FALSE(IsWellFormedXml("<a x=\"a & b\"></a>"));
  EXPECT_FALSE(IsWellFormedXml("<a><b></a>"));
  EXPECT_FALSE(IsWellFormedXml("<a>x > y</a>"));
}

// One suite per tier, one case per planned run: passed, failed with the
// status, or skipped when not done; the experiment name is escaped.
TEST(ReportsTest, JunitHasSuitesCasesFailuresAndSkips) {
  const Plan plan =
      MakePlan("a<b & \"c\" 'd'>", {MakeTier("T0", {"00"}, 2), MakeTier("T1", {"x.y"}, 1)});
  std::vector<RunRecord> records = {MakeRecord("T0", "00", 1, 1, true, 0.01),
                                    MakeRecord("T0", "00", 2, 0, false, 0.01)};
  records[0].duration_s = 1.5;
  records[1].duration_s = 30;
  records[1].status = "timeout";
  records[1].signal = 9;
  records[1].attempts = 2;
  const std::string xml = RenderJunitXml(plan, records);
  const std::vector<std::string> expected = {
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
      "<testsuites name=\"a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\" tests=\"3\" "
      "failures=\"1\" skipped=\"1\" time=\"31.500\">\n",
      "  <testsuite name=\"T0\" tests=\"2\" failures=\"1\" skipped=\"0\" time=\"31.500\">\n",
      "    <testcase classname=\"T0.00\" name=\"run_01\" time=\"1.500\"/>\n",
      "    <testcase classname=\"T0.00\" name=\"run_02\" time=\"30.000\">\n"
      "      <failure message=\"status timeout, score 0.0000, signal 9, attempts 2\"/>\n"
      "    </testcase>\n",
      "  <testsuite name=\"T1\" tests=\"1\" failures=\"0\" skipped=\"1\" time=\"0.000\">\n",
      "    <testcase classname=\"T1.x.y\" name=\"run_01\" time=\"0.000\">\n"
      "      <skipped/>\n"
      "    </testcase>\n",
      "</testsuites>\n",
  };
  for (const std::string& part : expected) {
    EXPECT_NE(xml.find(part), std::string::npos) << "missing: " << part << "in:\n" << xml;
  }
  EXPECT_TRUE(IsWellFormedXml(xml)) << xml;
}

// Whatever a status says, it cannot break the XML.
TEST(ReportsTest, JunitEscapesFailureMessages) {
  const Plan plan = MakePlan("demo", {MakeTier("T0", {"00"}, 1)});
  RunRecord record = MakeRecord("T0", "00", 1, 0, false, std::nullopt);
  record.status = "failed: <judge> said \"no\" & 'why'\n\x01";
  record.exit_code = 1;
  const std::string xml = RenderJunitXml(plan, {record});
  EXPECT_NE(xml.find("message=\"status failed: &lt;judge&gt; said &quot;no&quot; &amp; "
                     "&apos;why&apos;&#10;?, score 0.0000, exit code 1\""),
            std::string::npos)
      << xml;
  EXPECT_TRUE(IsWellFormedXml(xml)) << xml;
}

// ---- WriteReports --------------------------------------------------------------------

std::set<std::string> FilesUnder(const std::string& root) {
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) {
      files.insert(std::filesystem::relative(entry.path(), root).string());
    }
  }
  return files;
}

std::string ReadOrDie(const std::string& path) {
  auto text = ReadWholeFile(path);
  EXPECT_TRUE(text.ok()) << text.error().message;
  return text.ok() ? *text : std::string();
}

// Every level for every planned tier and sub-test, nothing else (no
// temporaries left behind), JSON with a trailing newline.
TEST(ReportsTest, WriteReportsCreatesExactlyTheExpectedFiles) {
  test::ScopedTempDir dir;
  const Plan plan = ExamplePlan();
  const std::vector<RunRecord> records = {MakeRecord("T0", "00", 1, 1, true, 0.01)};
  const jobserver::Status written = WriteReports(dir.path(), plan, records);
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(FilesUnder(dir.path()),
            (std::set<std::string>{"report.json", "report.md", "junit.xml", "T0/report.json",
                                   "T0/00/report.json", "T0/01/report.json", "T1/report.json",
                                   "T1/00/report.json"}));
  const ExperimentMetrics metrics = ComputeMetrics(plan, records);
  EXPECT_EQ(ReadOrDie(dir.Child("report.json")), ExperimentReportJson(metrics).dump(2) + "\n");
  EXPECT_EQ(ReadOrDie(dir.Child("T0/report.json")),
            TierReportJson(metrics.tiers[0]).dump(2) + "\n");
  EXPECT_EQ(ReadOrDie(dir.Child("T0/01/report.json")),
            SubtestReportJson(metrics.tiers[0].subtests[1]).dump(2) + "\n");
  EXPECT_EQ(ReadOrDie(dir.Child("report.md")), RenderReportMarkdown(metrics));
  EXPECT_EQ(ReadOrDie(dir.Child("junit.xml")), RenderJunitXml(plan, records));
}

// Reports have no timestamps: the same records give the same bytes.
TEST(ReportsTest, WriteReportsIsDeterministic) {
  test::ScopedTempDir first, second;
  ASSERT_TRUE(WriteReports(first.path(), ExamplePlan(), ExampleRecords()).ok());
  ASSERT_TRUE(WriteReports(second.path(), ExamplePlan(), ExampleRecords()).ok());
  for (const std::string& file : FilesUnder(first.path())) {
    EXPECT_EQ(ReadOrDie(first.Child(file)), ReadOrDie(second.Child(file))) << file;
  }
  EXPECT_EQ(FilesUnder(first.path()), FilesUnder(second.path()));
}

// A results "directory" that is a file is an error, not a crash.
TEST(ReportsTest, WriteReportsReportsFailure) {
  test::ScopedTempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.Child("file"), "x").ok());
  const jobserver::Status written = WriteReports(dir.Child("file"), ExamplePlan(), {});
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.error().message.find(dir.Child("file")), std::string::npos)
      << written.error().message;
}

// ---- bounds (tests/faults/agent_huge_files_test.sh, plan_overflow_test.sh) ------

// What an agent reports is bounded: scores within +-1e9, costs 0 to 1e9,
// token counts 0 to 1e16; anything else makes its result.json invalid.
TEST(AgentReportTest, NumbersOutOfRangeMakeTheReportInvalid) {
  const struct {
    const char* text;
    const char* message;  // After "result.json: ".
  } kCases[] = {
      {R"({"score": 1.7e308})",
       "score 1.7e+308 is out of range; expected a number from -1e9 to 1e9"},
      {R"({"score": -1000000001})",
       "score -1000000001.0 is out of range; expected a number from -1e9 to 1e9"},
      {R"({"cost_usd": -1e308})",
       "cost_usd -1e+308 is out of range; expected a number from 0 to 1e9"},
      {R"({"cost_usd": -0.5})", "cost_usd -0.5 is out of range; expected a number from 0 to 1e9"},
      {R"({"tokens": {"input": 9223372036854775807}})",
       "tokens.input 9223372036854775807 is out of range; expected an integer from 0 to 1e16"},
      {R"({"tokens": {"input": 18446744073709551615}})",
       "tokens.input 9223372036854775807 is out of range; expected an integer from 0 to 1e16"},
      {R"({"tokens": {"output": -1}})",
       "tokens.output -1 is out of range; expected an integer from 0 to 1e16"},
  };
  for (const auto& c : kCases) {
    Result<AgentReport> report = ParseAgentReport(c.text, "result.json");
    ASSERT_FALSE(report.ok()) << c.text;
    EXPECT_EQ(report.error().kind, ErrorKind::kInvalid);
    EXPECT_EQ(report.error().message, std::string("result.json: ") + c.message);
  }
  Result<AgentReport> at_limits = ParseAgentReport(
      R"({"score": -1e9, "cost_usd": 1e9, "tokens": {"input": 10000000000000000, "output": 0}})",
      "result.json");
  ASSERT_TRUE(at_limits.ok()) << at_limits.error().message;
  EXPECT_EQ(at_limits->tokens.input, kMaxAttemptTokens);
}

// A 3 GB result.json (sparse) is refused by its size: nothing is read, so
// the loop neither allocates 3 GB nor stalls.
TEST(AgentReportTest, AHugeResultFileIsRefusedUnread) {
  test::ScopedTempDir dir;
  const std::string path = dir.path() + "/result.json";
  ASSERT_TRUE(WriteFileAtomically(path, R"({"passed": true})").ok());
  ASSERT_EQ(truncate(path.c_str(), off_t{3} << 30), 0);
  Result<AgentReport> report = ReadAgentReport(path);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().message, path + ": 3221225472 bytes, more than the 1 MiB tierun reads");
  // At the bound it is read (and here is not JSON: 1 MiB of zeros).
  ASSERT_EQ(truncate(path.c_str(), 0), 0);
  ASSERT_EQ(truncate(path.c_str(), off_t{kMaxAgentReportBytes}), 0);
  EXPECT_EQ(ReadAgentReport(path).error().message, path + ": expected a JSON object");
}

// A run report read back (an agent may have rewritten it) is held to the
// same ranges, summed over at most 100 attempts.
TEST(RunRecordTest, RejectsNumbersOutOfRange) {
  const std::vector<std::pair<std::string, std::function<void(json&)>>> cases = {
      {"score", [](json& j) { j["score"] = 1.7e308; }},
      {"cost_usd", [](json& j) { j["cost_usd"] = -1e308; }},
      {"cost_usd", [](json& j) { j["cost_usd"] = 1e12; }},
      {"tokens.input", [](json& j) { j["tokens"]["input"] = -2; }},
      {"tokens.output", [](json& j) { j["tokens"]["output"] = uint64_t{18446744073709551615u}; }},
      {"tokens.output", [](json& j) { j["tokens"]["output"] = kMaxRecordTokens + 1; }},
  };
  for (const auto& [key, mutate] : cases) {
    SCOPED_TRACE(key);
    json record = FullRecord();
    mutate(record);
    try {
      record.get<RunRecord>();
      ADD_FAILURE() << "no exception";
    } catch (const json::exception& e) {
      EXPECT_TRUE(NamesKey(e.what(), key)) << e.what();
    }
  }
}

// A saturated token sum and a total cost past DBL_MAX are null in the JSON
// reports and "—" in report.md: never "inf", never a negative count.
TEST(ReportsTest, SaturatedAndInfiniteSumsAreNull) {
  std::vector<RunRecord> records;
  for (int run = 1; run <= 2; ++run) {
    records.push_back(MakeRecord("T0", "00", run, 1e308, true, 1e308));
    records.back().tokens = {INT64_MAX, 1};
  }
  const ExperimentMetrics metrics =
      ComputeMetrics(MakePlan("demo", {MakeTier("T0", {"00"}, 2)}), records);
  const json subtest = SubtestReportJson(metrics.tiers[0].subtests[0]);
  EXPECT_TRUE(subtest["tokens"]["input"].is_null()) << subtest.dump();
  EXPECT_EQ(subtest["tokens"]["output"], 2);
  EXPECT_TRUE(subtest["total_cost"].is_null()) << subtest.dump();
  EXPECT_EQ(subtest["mean_score"], 1e308);
  const json experiment = ExperimentReportJson(metrics);
  EXPECT_TRUE(experiment["tokens"]["input"].is_null());
  EXPECT_TRUE(experiment["total_cost"].is_null());
  const std::string md = RenderReportMarkdown(metrics);
  ExpectNoNonFinite(md);
  EXPECT_NE(md.find("| T0 | 2/2 | 2 | 100.0 % | — |"), std::string::npos) << md;
}

}  // namespace
}  // namespace tierun
