#pragma once

/// What a person watching `tierun run` sees. On a terminal: a live view, one
/// line per tier (done/total, passed, running) and the slots in use, redrawn
/// in place. Elsewhere: one plain line per finished run. Or nothing.

#include <stdio.h>

#include <memory>
#include <string>
#include <vector>

#include "src/plan.h"
#include "src/run_record.h"

namespace tierun {

enum class ProgressMode { kAuto, kBar, kPlain, kNone };

class Progress {
 public:
  /// kAuto: kBar when `out` is a terminal, else kPlain.
  Progress(ProgressMode mode, const Plan& plan, FILE* out);

  /// Totals and runs already complete from an earlier session.
  void SetTotals(size_t tier, int total, int done, int passed);
  void Started(size_t tier);
  void Finished(size_t tier, const RunRecord& record);
  void Retrying(size_t tier, const std::string& what);
  void Note(const std::string& line);
  /// Like Note(), but printed with --progress none too: why runs stop, or
  /// what is wrong with an agent's result file, must reach the user.
  void Warn(const std::string& line);
  /// Redraws the live view (no-op in other modes).
  void Render();
  /// Leaves the live view below the last drawing.
  void Close();

  bool live() const { return mode_ == ProgressMode::kBar; }

 private:
  struct TierLine {
    std::string id;
    int total = 0;
    int done = 0;
    int passed = 0;
    int running = 0;
  };
  void Print(const std::string& line);

  ProgressMode mode_;
  FILE* out_;
  std::vector<TierLine> tiers_;
  int drawn_lines_ = 0;
};

}  // namespace tierun
