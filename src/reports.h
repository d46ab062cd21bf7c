#pragma once

/// The report files of an experiment directory (docs/design.md section 4.8):
///
///     results/<experiment>/report.json  report.md  junit.xml
///     results/<experiment>/<tier>/report.json
///     results/<experiment>/<tier>/<subtest>/report.json
///     results/<experiment>/<tier>/<subtest>/run_01/report.json   (RunRecord)
///
/// The run reports are the facts; everything else here is rebuilt from them
/// (metrics.h) and written atomically, so `tierun report DIR` can always
/// regenerate it and an interrupted runner never leaves a partial report.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobserver/error.h"
#include "src/atomic_file.h"
#include "src/metrics.h"
#include "src/plan.h"
#include "src/plan_results.h"
#include "src/run_record.h"
#include "src/run_selection.h"

namespace tierun {

/// "run_01" ... "run_99", "run_100".
std::string RunDirectoryName(int run);
/// <experiment_dir>/<tier>/<subtest>/run_NN
std::string RunDirectory(const std::string& experiment_dir, const std::string& tier,
                         const std::string& subtest, int run);

/// Reads the run reports of every run the plan names that has one, in plan
/// order. A report that cannot be parsed, or whose tier/subtest/run disagree
/// with the directory it lies in, is an error (kInvalid) naming the file; a
/// path stat() fails on for any reason but ENOENT/ENOTDIR is kSystem (a run
/// is "not done" only when its report is truly absent).
jobserver::Result<std::vector<RunRecord>> ReadRunRecords(const std::string& experiment_dir,
                                                         const Plan& plan);

/// Adds to `results` the outcome of every run with a report, read as
/// ReadRunRecords() does (with its errors), but for the runs of `known`: a
/// runner's own selection, whose outcomes `results` holds already (nobody
/// else writes them while the runner holds its locks, results_dir.h). A
/// runner of the whole plan reads nothing.
jobserver::Status ReadPlanResults(const std::string& experiment_dir, const Plan& plan,
                                  PlanResults& results, const RunSelection* known = nullptr);

nlohmann::json SubtestReportJson(const SubtestMetrics& metrics);
nlohmann::json TierReportJson(const TierMetrics& metrics);
nlohmann::json ExperimentReportJson(const ExperimentMetrics& metrics);

/// report.md: a table a person reads -- per tier: runs done/expected, pass
/// rate, cost, cost-of-pass, best sub-test; then the frontier.
std::string RenderReportMarkdown(const ExperimentMetrics& metrics);

/// junit.xml: one <testsuite> per tier, one <testcase> per complete run
/// (classname "<tier>.<subtest>", name "run_NN"), <failure> for runs that did
/// not pass; runs not done yet are <skipped/>.
std::string RenderJunitXml(const Plan& plan, const std::vector<RunRecord>& records);
/// The same from a PlanResults table, streamed to `path` atomically (it has
/// a line per run).
jobserver::Status WriteJunitXml(const std::string& path, const Plan& plan,
                                const PlanResults& results);
/// The same into a directory opened earlier (`tierun run --junit FILE` opens
/// FILE's directory before any agent starts).
jobserver::Status WriteJunitXml(const HeldPath& target, const Plan& plan,
                                const PlanResults& results);

/// Writes every report above the run level, each atomically.
jobserver::Status WriteReports(const std::string& experiment_dir, const Plan& plan,
                               const PlanResults& results);
/// The same from records (a later record of a run is ignored).
jobserver::Status WriteReports(const std::string& experiment_dir, const Plan& plan,
                               const std::vector<RunRecord>& records);

}  // namespace tierun
