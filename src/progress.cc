#include "src/progress.h"

#include <unistd.h>

#include <cstdio>

namespace tierun {
namespace {

std::string Bar(int done, int total, int width) {
  const int filled = total > 0 ? done * width / total : width;
  std::string bar;
  for (int i = 0; i < width; ++i) bar += i < filled ? "#" : ".";
  return bar;
}

std::string DescribeRun(const RunRecord& record) {
  char text[256];
  snprintf(text, sizeof text, "%s/%s run %d: %s, score %.2f, $%.4f, %.1f s", record.tier.c_str(),
           record.subtest.c_str(), record.run, record.status.c_str(), record.score,
           record.cost_usd.value_or(0), record.duration_s);
  return text;
}

}  // namespace

Progress::Progress(ProgressMode mode, const Plan& plan, FILE* out) : mode_(mode), out_(out) {
  if (mode_ == ProgressMode::kAuto) {
    mode_ = isatty(fileno(out)) ? ProgressMode::kBar : ProgressMode::kPlain;
  }
  for (const Tier& tier : plan.tiers) tiers_.push_back(TierLine{tier.id});
}

void Progress::SetTotals(size_t tier, int total, int done, int passed) {
  tiers_[tier].total = total;
  tiers_[tier].done = done;
  tiers_[tier].passed = passed;
}

void Progress::Started(size_t tier) {
  ++tiers_[tier].running;
  Render();
}

void Progress::Finished(size_t tier, const RunRecord& record) {
  TierLine& line = tiers_[tier];
  --line.running;
  ++line.done;
  if (record.passed) ++line.passed;
  if (mode_ == ProgressMode::kPlain) {
    Print(DescribeRun(record) + "  [" + std::to_string(line.done) + "/" +
          std::to_string(line.total) + " in " + line.id + "]");
  }
  Render();
}

void Progress::Retrying(size_t tier, const std::string& what) {
  --tiers_[tier].running;
  Note(what);
}

void Progress::Note(const std::string& line) {
  if (mode_ == ProgressMode::kNone) return;
  Print(line);
  Render();
}

void Progress::Warn(const std::string& line) {
  if (mode_ == ProgressMode::kNone) {
    fprintf(out_, "%s\n", line.c_str());
    return;
  }
  Note(line);
}

void Progress::Print(const std::string& line) {
  if (mode_ == ProgressMode::kBar && drawn_lines_ > 0) {
    fprintf(out_, "\033[%dA\033[J", drawn_lines_);  // Up over the view, clear below.
    drawn_lines_ = 0;
  }
  fprintf(out_, "%s\n", line.c_str());
  fflush(out_);
}

void Progress::Render() {
  if (mode_ != ProgressMode::kBar) return;
  if (drawn_lines_ > 0) fprintf(out_, "\033[%dA\033[J", drawn_lines_);
  int running = 0;
  int drawn = 1;
  for (const TierLine& line : tiers_) {
    if (line.total == 0) continue;  // A tier this runner does not run (--tiers, --runs).
    ++drawn;
    fprintf(out_, "%-8s [%s] %3d/%-3d done  %3d passed  %2d running\n", line.id.c_str(),
            Bar(line.done, line.total, 20).c_str(), line.done, line.total, line.passed,
            line.running);
    running += line.running;
  }
  fprintf(out_, "slots in use: %d\n", running);
  drawn_lines_ = drawn;
  fflush(out_);
}

void Progress::Close() {
  if (mode_ == ProgressMode::kBar) Render();
  drawn_lines_ = 0;
}

}  // namespace tierun
