#pragma once

/// The experiment's results directory, results/<name>/, as the checkpoint
/// (DESIGN.md section 4.5).
///
/// A new directory gets plan.json (the normalised plan and its hash). An
/// existing one is resumed when its plan hash matches: runs with a
/// report.json are complete and are not run again; run directories without
/// one are moved aside (run_01 -> run_01.incomplete.1), never deleted. A
/// changed plan is refused with what changed; --fresh moves the whole old
/// directory aside (results/<name>.old.1). A lock file keeps two runners out
/// of one directory.

#include <string>
#include <vector>

#include "jobserver/error.h"
#include "jobserver/unique_fd.h"
#include "src/plan.h"

namespace tierun {

struct ResultsDirectory {
  std::string path;  ///< Absolute.
  bool resumed = false;
  std::vector<std::string> moved_aside;  ///< Incomplete runs, or the old directory.
  jobserver::UniqueFd lock;              ///< Held while the runner uses it.
};

/// The directory `plan` writes to: <results>/<name>, absolute.
std::string ExperimentDirectory(const Plan& plan);

/// Opens (resume), creates, or with `fresh` renews the results directory.
/// Errors: kInvalid for a changed plan or a directory tierun did not make
/// (the message says what to do), kUnusable when another runner holds it,
/// kSystem for I/O.
jobserver::Result<ResultsDirectory> PrepareResultsDirectory(const Plan& plan, bool fresh);

/// True when <dir>/<tier>/<subtest>/run_NN/report.json exists.
bool RunIsComplete(const std::string& dir, const std::string& tier, const std::string& subtest,
                   int run);

/// Lists how two normalised plans differ ("runs: 3 -> 5"), at most `limit`.
std::vector<std::string> DescribePlanChanges(const nlohmann::json& before,
                                             const nlohmann::json& after, size_t limit = 8);

}  // namespace tierun
