#include "src/reports.h"

#include <stdio.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string_view>
#include <tuple>

#include "src/atomic_file.h"

namespace tierun {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;
using jobserver::Status;
using nlohmann::json;

namespace {

// ---- formatting -------------------------------------------------------------

std::string Format(const char* format, double value) {
  char buffer[64];
  snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

// A number past DBL_MAX (metrics.h) is one the reports cannot give: "—" in
// report.md, null in JSON, never "inf".
std::string Fixed(double value) { return std::isfinite(value) ? Format("%.4f", value) : "—"; }
std::string Dollars(double value) { return std::isfinite(value) ? Format("$%.4f", value) : "—"; }
std::string Percent(double fraction) { return Format("%.1f %%", fraction * 100); }
std::string DollarsOrDash(const std::optional<double>& value) {
  return value ? Dollars(*value) : "—";
}

json Number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }
json OrNull(const std::optional<double>& value) { return value ? Number(*value) : json(nullptr); }
json OrNull(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

/// A saturated sum (run_record.h) is more than tierun counts: null.
json TokenCount(int64_t count) { return TokenCountSaturated(count) ? json(nullptr) : json(count); }
json TokensJson(const TokenCounts& tokens) {
  return {{"input", TokenCount(tokens.input)}, {"output", TokenCount(tokens.output)}};
}

// ---- reading ---------------------------------------------------------------

/// A run's report.json is some 400 bytes (ids are at most 243 each); one
/// an agent replaced with a huge file is refused by its size.
constexpr size_t kMaxRunReportBytes = size_t{1} << 20;

Result<RunRecord> ReadRunRecord(const std::string& path, const std::string& tier,
                                const std::string& subtest, int run) {
  Result<std::string> text = ReadWholeFile(path, kMaxRunReportBytes);
  if (!text) return text.error();
  RunRecord record;
  try {
    record = json::parse(*text).get<RunRecord>();
  } catch (const json::exception& e) {
    return Error{ErrorKind::kInvalid, path + ": " + e.what()};
  }
  // A record copied into the wrong directory would be counted for the wrong
  // sub-test; its own fields must agree with where it lies.
  if (record.tier != tier || record.subtest != subtest || record.run != run) {
    return Error{ErrorKind::kInvalid, path + ": the record is for " + record.tier + "/" +
                                          record.subtest + "/" + RunDirectoryName(record.run)};
  }
  return record;
}

// ---- junit.xml -------------------------------------------------------------

/// Escapes text for an XML attribute or element. Control characters other
/// than tab, newline and carriage return are not allowed in XML 1.0 at all,
/// even as references, so they become '?'.
std::string XmlEscape(std::string_view text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      case '\'':
        escaped += "&apos;";
        break;
      case '\t':
        escaped += "&#9;";
        break;
      case '\n':
        escaped += "&#10;";
        break;
      case '\r':
        escaped += "&#13;";
        break;
      default:
        escaped += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
    }
  }
  return escaped;
}

std::string FailureMessage(const RunOutcome& record) {
  std::string message = "status " + record.status + ", score " + Fixed(record.score);
  if (record.exit_code) message += ", exit code " + std::to_string(*record.exit_code);
  if (record.signal) message += ", signal " + std::to_string(*record.signal);
  if (record.attempts != 1) message += ", attempts " + std::to_string(record.attempts);
  return message;
}

struct SuiteCounts {
  int tests = 0;
  int failures = 0;
  int skipped = 0;
  double time = 0;
  void Add(const SuiteCounts& more) {
    tests += more.tests;
    failures += more.failures;
    skipped += more.skipped;
    time += more.time;
  }
};

SuiteCounts TestcaseCounts(const RunOutcome* record) {
  SuiteCounts counts;
  counts.tests = 1;
  if (record == nullptr) {
    counts.skipped = 1;
    return counts;
  }
  counts.time = record->duration_s;
  counts.failures = record->passed ? 0 : 1;
  return counts;
}

std::string TestcaseXml(const std::string& classname, int run, const RunOutcome* record) {
  std::string xml = "    <testcase classname=\"" + XmlEscape(classname) + "\" name=\"" +
                    RunDirectoryName(run) + "\" time=\"" +
                    Format("%.3f", record != nullptr ? record->duration_s : 0) + "\"";
  if (record == nullptr) return xml + ">\n      <skipped/>\n    </testcase>\n";
  if (record->passed) return xml + "/>\n";
  return xml + ">\n      <failure message=\"" + XmlEscape(FailureMessage(*record)) +
         "\"/>\n    </testcase>\n";
}

std::string CountsAttributes(const SuiteCounts& counts) {
  return "tests=\"" + std::to_string(counts.tests) + "\" failures=\"" +
         std::to_string(counts.failures) + "\" skipped=\"" + std::to_string(counts.skipped) +
         "\" time=\"" + Format("%.3f", counts.time) + "\"";
}

SuiteCounts TestsuiteCounts(const Tier& tier, size_t tier_index, const PlanResults& results) {
  SuiteCounts counts;
  for (size_t subtest = 0; subtest < tier.subtests.size(); ++subtest) {
    for (int run = 1; run <= tier.runs; ++run) {
      counts.Add(TestcaseCounts(results.Find(tier_index, subtest, run)));
    }
  }
  return counts;
}

std::string TestsuiteXml(const Tier& tier, size_t tier_index, const PlanResults& results,
                         const SuiteCounts& counts) {
  std::string xml =
      "  <testsuite name=\"" + XmlEscape(tier.id) + "\" " + CountsAttributes(counts) + ">\n";
  for (size_t subtest = 0; subtest < tier.subtests.size(); ++subtest) {
    const std::string classname = tier.id + "." + tier.subtests[subtest];
    for (int run = 1; run <= tier.runs; ++run) {
      xml += TestcaseXml(classname, run, results.Find(tier_index, subtest, run));
    }
  }
  return xml + "  </testsuite>\n";
}

/// junit.xml, a tier at a time: `emit` gets the header, then each
/// <testsuite>, so a writer need not hold the whole file at once.
void RenderJunit(const Plan& plan, const PlanResults& results,
                 const std::function<void(std::string_view)>& emit) {
  // The header counts every suite: a pass of counting first.
  std::vector<SuiteCounts> suites;
  SuiteCounts total;
  for (size_t tier = 0; tier < plan.tiers.size(); ++tier) {
    suites.push_back(TestsuiteCounts(plan.tiers[tier], tier, results));
    total.Add(suites.back());
  }
  emit("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"" + XmlEscape(plan.name) +
       "\" " + CountsAttributes(total) + ">\n");
  for (size_t tier = 0; tier < plan.tiers.size(); ++tier) {
    emit(TestsuiteXml(plan.tiers[tier], tier, results, suites[tier]));
  }
  emit("</testsuites>\n");
}

// ---- report.md -------------------------------------------------------------

/// A heading is one line: a newline in the name would end it early.
std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

std::string TierRow(const TierMetrics& tier) {
  const std::string rate =
      tier.runs > 0 ? Percent(static_cast<double>(tier.passed) / tier.runs) : std::string("—");
  return "| " + tier.tier + " | " + std::to_string(tier.runs) + "/" +
         std::to_string(tier.expected_runs) + " | " + std::to_string(tier.passed) + " | " + rate +
         " | " + Dollars(tier.total_cost) + " | " + DollarsOrDash(tier.cost_of_pass) + " | " +
         tier.best_subtest.value_or("—") + " |\n";
}

std::string SubtestRow(const SubtestMetrics& subtest) {
  std::string row = "| " + subtest.tier + " | " + subtest.subtest + " | " +
                    std::to_string(subtest.runs) + "/" + std::to_string(subtest.expected_runs) +
                    " | " + std::to_string(subtest.passed) + " | ";
  // Without runs there is no rate or score to show, only "not yet".
  if (subtest.runs == 0) return row + "— | — | — | — | — | " + Dollars(0) + " | — | — |\n";
  return row + Percent(subtest.pass_rate) + " | " + Fixed(subtest.mean_score) + " | " +
         Fixed(subtest.median_score) + " | " + Fixed(subtest.stdev_score) + " | " +
         Fixed(subtest.consistency) + " | " + Dollars(subtest.total_cost) + " | " +
         Dollars(subtest.mean_cost) + " | " + DollarsOrDash(subtest.cost_of_pass) + " |\n";
}

std::string FrontierLine(const ExperimentMetrics& metrics) {
  if (!metrics.frontier_cost_of_pass) {
    return "Frontier cost-of-pass: none — no tier's best sub-test has a passing run.\n";
  }
  return "Frontier cost-of-pass: " + Dollars(*metrics.frontier_cost_of_pass) + " (tier " +
         metrics.frontier_tier.value_or("?") + ").\n";
}

}  // namespace

std::string RunDirectoryName(int run) {
  char buffer[32];
  snprintf(buffer, sizeof buffer, "run_%02d", run);
  return buffer;
}

std::string RunDirectory(const std::string& experiment_dir, const std::string& tier,
                         const std::string& subtest, int run) {
  return experiment_dir + "/" + tier + "/" + subtest + "/" + RunDirectoryName(run);
}

namespace {

/// Calls `use` with the record of every run the plan names that has a run
/// report, in plan order, but those `skip` says are known.
template <typename Skip, typename Use>
Status ForEachRunReport(const std::string& experiment_dir, const Plan& plan, Skip skip, Use use) {
  for (const Tier& tier : plan.tiers) {
    for (const std::string& subtest : tier.subtests) {
      for (int run = 1; run <= tier.runs; ++run) {
        if (skip(tier.id, subtest, run)) continue;
        const std::string path =
            RunDirectory(experiment_dir, tier.id, subtest, run) + "/report.json";
        // Below the experiment directory, through its descriptor (PathExists):
        // a runner reads the run reports of the directory it writes in.
        const Result<bool> exists = PathExists(path);
        if (!exists) return exists.error();
        if (!*exists) continue;  // Not complete yet: nothing to read.
        Result<RunRecord> record = ReadRunRecord(path, tier.id, subtest, run);
        if (!record) return record.error();
        use(std::move(*record));
      }
    }
  }
  return {};
}

}  // namespace

Result<std::vector<RunRecord>> ReadRunRecords(const std::string& experiment_dir, const Plan& plan) {
  std::vector<RunRecord> records;
  Status read = ForEachRunReport(
      experiment_dir, plan, [](const std::string&, const std::string&, int) { return false; },
      [&](RunRecord record) { records.push_back(std::move(record)); });
  if (!read) return read.error();
  return records;
}

Status ReadPlanResults(const std::string& experiment_dir, const Plan& plan, PlanResults& results,
                       const RunSelection* known) {
  // A runner of the whole plan knows every outcome: nothing to read.
  if (known != nullptr && !known->scoped()) return {};
  return ForEachRunReport(
      experiment_dir, plan,
      [&](const std::string& tier, const std::string& subtest, int run) {
        return known != nullptr && known->Has(tier, subtest, run);
      },
      [&](const RunRecord& record) { results.Add(record); });
}

json SubtestReportJson(const SubtestMetrics& metrics) {
  return {
      {"tier", metrics.tier},
      {"subtest", metrics.subtest},
      {"expected_runs", metrics.expected_runs},
      {"runs", metrics.runs},
      {"passed", metrics.passed},
      {"pass_rate", Number(metrics.pass_rate)},
      {"mean_score", Number(metrics.mean_score)},
      {"median_score", Number(metrics.median_score)},
      {"stdev_score", Number(metrics.stdev_score)},
      {"total_cost", Number(metrics.total_cost)},
      {"mean_cost", Number(metrics.mean_cost)},
      {"consistency", Number(metrics.consistency)},
      {"cost_of_pass", OrNull(metrics.cost_of_pass)},
      {"tokens", TokensJson(metrics.tokens)},
  };
}

json TierReportJson(const TierMetrics& metrics) {
  json subtests = json::array();
  for (const SubtestMetrics& subtest : metrics.subtests) {
    subtests.push_back(SubtestReportJson(subtest));
  }
  return {
      {"tier", metrics.tier},
      {"expected_runs", metrics.expected_runs},
      {"runs", metrics.runs},
      {"passed", metrics.passed},
      {"total_cost", Number(metrics.total_cost)},
      {"tokens", TokensJson(metrics.tokens)},
      {"best_subtest", OrNull(metrics.best_subtest)},
      {"cost_of_pass", OrNull(metrics.cost_of_pass)},
      {"subtests", std::move(subtests)},
  };
}

json ExperimentReportJson(const ExperimentMetrics& metrics) {
  json tiers = json::array();
  for (const TierMetrics& tier : metrics.tiers) tiers.push_back(TierReportJson(tier));
  return {
      {"name", metrics.name},
      {"expected_runs", metrics.expected_runs},
      {"runs", metrics.runs},
      {"passed", metrics.passed},
      {"total_cost", Number(metrics.total_cost)},
      {"tokens", TokensJson(metrics.tokens)},
      {"frontier_cost_of_pass", OrNull(metrics.frontier_cost_of_pass)},
      {"frontier_tier", OrNull(metrics.frontier_tier)},
      {"tiers", std::move(tiers)},
  };
}

std::string RenderReportMarkdown(const ExperimentMetrics& metrics) {
  std::string md = "# Report: " + OneLine(metrics.name) + "\n\n";
  md += "Runs: " + std::to_string(metrics.runs) + "/" + std::to_string(metrics.expected_runs) +
        " done, " + std::to_string(metrics.passed) + " passed, total cost " +
        Dollars(metrics.total_cost) + ".\n\n";
  md += "| tier | runs | passed | pass rate | total cost | cost-of-pass | best sub-test |\n";
  md += "|---|---:|---:|---:|---:|---:|---|\n";
  for (const TierMetrics& tier : metrics.tiers) md += TierRow(tier);
  md += "\n" + FrontierLine(metrics) + "\n## Sub-tests\n\n";
  md +=
      "| tier | sub-test | runs | passed | pass rate | mean score | median score | stdev | "
      "consistency | total cost | mean cost | cost-of-pass |\n";
  md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const TierMetrics& tier : metrics.tiers) {
    for (const SubtestMetrics& subtest : tier.subtests) md += SubtestRow(subtest);
  }
  return md;
}

std::string RenderJunitXml(const Plan& plan, const std::vector<RunRecord>& records) {
  std::string xml;
  RenderJunit(plan, PlanResults::FromRecords(plan, records),
              [&](std::string_view piece) { xml += piece; });
  return xml;
}

Status WriteJunitXml(const std::string& path, const Plan& plan, const PlanResults& results) {
  Result<HeldPath> target = HoldParentDirectory(path);
  if (!target) return target.error();
  return WriteJunitXml(*target, plan, results);
}

Status WriteJunitXml(const HeldPath& target, const Plan& plan, const PlanResults& results) {
  Result<AtomicFileWriter> writer = AtomicFileWriter::Create(target);
  if (!writer) return writer.error();
  RenderJunit(plan, results, [&](std::string_view piece) { writer->Append(piece); });
  return writer->Commit();
}

Status WriteReports(const std::string& experiment_dir, const Plan& plan,
                    const std::vector<RunRecord>& records) {
  return WriteReports(experiment_dir, plan, PlanResults::FromRecords(plan, records));
}

Status WriteReports(const std::string& experiment_dir, const Plan& plan,
                    const PlanResults& results) {
  const ExperimentMetrics metrics = ComputeMetrics(plan, results);
  auto write_json = [](const std::string& path, const json& report) {
    return WriteFileAtomically(path, report.dump(2) + "\n");
  };
  // Leaves first, the experiment's own reports last: a top-level report.json
  // that exists was written after everything below it. A runner killed while
  // writing them left temporaries beside them: they go now.
  RemoveStaleTemporaries(experiment_dir);
  for (const TierMetrics& tier : metrics.tiers) {
    const std::string tier_dir = experiment_dir + "/" + tier.tier;
    RemoveStaleTemporaries(tier_dir);
    for (const SubtestMetrics& subtest : tier.subtests) {
      RemoveStaleTemporaries(tier_dir + "/" + subtest.subtest);
      const std::string path = tier_dir + "/" + subtest.subtest + "/report.json";
      if (Status written = write_json(path, SubtestReportJson(subtest)); !written) return written;
    }
    if (Status written = write_json(tier_dir + "/report.json", TierReportJson(tier)); !written) {
      return written;
    }
  }
  if (Status written = WriteJunitXml(experiment_dir + "/junit.xml", plan, results); !written) {
    return written;
  }
  if (Status written =
          WriteFileAtomically(experiment_dir + "/report.md", RenderReportMarkdown(metrics));
      !written) {
    return written;
  }
  return write_json(experiment_dir + "/report.json", ExperimentReportJson(metrics));
}

}  // namespace tierun
