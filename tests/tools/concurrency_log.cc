#include "tests/tools/concurrency_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "jobserver/unique_fd.h"

namespace tierun::testing {
namespace {

enum class Verb { kBegin, kEnd };

struct Record {
  Verb verb;
  std::string_view id;
  std::uint64_t pid;
};

// Fields are separated by blanks; the probe writes single spaces, but people
// writing a log by hand should not trip over a doubled one.
std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t pos = 0;
  while ((pos = line.find_first_not_of(" \t", pos)) != std::string_view::npos) {
    const std::size_t end = std::min(line.find_first_of(" \t", pos), line.size());
    fields.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return fields;
}

// Digits only: from_chars on an unsigned type rejects signs, and the whole
// field must be consumed ("12x" is not a number).
bool ParseUnsigned(std::string_view text, std::uint64_t* value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return !text.empty() && ec == std::errc() && ptr == end;
}

jobserver::Error Malformed(std::string message) {
  return jobserver::Error{jobserver::ErrorKind::kInvalid, std::move(message)};
}

jobserver::Result<Record> ParseRecord(std::string_view line) {
  const std::vector<std::string_view> fields = SplitFields(line);
  if (fields.empty()) return Malformed("empty line");
  if (fields.size() != 4) {
    return Malformed("expected 4 fields \"begin|end ID PID NS\", got " +
                     std::to_string(fields.size()));
  }
  Record record{Verb::kBegin, fields[1], 0};
  if (fields[0] == "end") {
    record.verb = Verb::kEnd;
  } else if (fields[0] != "begin") {
    return Malformed("unknown verb \"" + std::string(fields[0]) + "\": expected begin or end");
  }
  if (!ParseUnsigned(fields[2], &record.pid) || record.pid == 0) {
    return Malformed("bad pid \"" + std::string(fields[2]) + "\": expected a positive integer");
  }
  std::uint64_t ns = 0;
  if (!ParseUnsigned(fields[3], &ns)) {
    return Malformed("bad timestamp \"" + std::string(fields[3]) +
                     "\": expected non-negative nanoseconds");
  }
  return record;
}

// Replays records in file order, keeping the set of open runs.
class Replay {
 public:
  explicit Replay(const VerifyOptions& options) : options_(options) {}

  void Begin(std::size_t line, const Record& record);
  void End(std::size_t line, const Record& record);
  void Report(std::size_t line, std::string message) {
    report_.violations.push_back({line, std::move(message)});
  }
  VerifyReport Finish() &&;

 private:
  struct OpenRun {
    std::size_t line;
    std::uint64_t pid;
  };
  // One stretch above the limit is one violation, reported at the line where
  // it went over; its message is completed when the stretch ends.
  struct Excursion {
    std::size_t violation;
    int first;
    int peak;
    std::size_t peak_line;
  };

  void TrackExcursion(std::size_t line);
  void CloseExcursion();
  void ReportStrayEnd(std::size_t line, std::string_view id);
  void CheckWholeLog();

  const VerifyOptions& options_;
  std::map<std::string, std::vector<OpenRun>, std::less<>> open_;
  std::map<std::string, std::size_t, std::less<>> first_begin_;
  std::map<std::string, std::size_t, std::less<>> last_end_;
  int active_ = 0;
  std::optional<Excursion> excursion_;
  VerifyReport report_;
};

void Replay::Begin(std::size_t line, const Record& record) {
  const std::string id(record.id);
  const auto [first, inserted] = first_begin_.try_emplace(id, line);
  if (!inserted) {
    Report(line, "run " + id + " began again (first began at line " +
                     std::to_string(first->second) + ")");
  } else if (options_.expected_ids && !options_.expected_ids->contains(id)) {
    Report(line, "unexpected run " + id + ": not in the expected IDs");
  }
  open_[id].push_back({line, record.pid});
  ++active_;
  report_.max_concurrency = std::max(report_.max_concurrency, active_);
  if (active_ > options_.limit) TrackExcursion(line);
}

void Replay::End(std::size_t line, const Record& record) {
  const auto it = open_.find(record.id);
  if (it == open_.end()) return ReportStrayEnd(line, record.id);
  std::vector<OpenRun>& runs = it->second;
  auto match = std::find_if(runs.begin(), runs.end(),
                            [&](const OpenRun& run) { return run.pid == record.pid; });
  if (match == runs.end()) {
    match = runs.begin();
    Report(line, "run " + it->first + " ended by pid " + std::to_string(record.pid) +
                     " but began with pid " + std::to_string(match->pid) + " at line " +
                     std::to_string(match->line));
  }
  runs.erase(match);
  last_end_[it->first] = line;
  if (runs.empty()) open_.erase(it);
  --active_;
  if (excursion_ && active_ <= options_.limit) CloseExcursion();
}

void Replay::ReportStrayEnd(std::size_t line, std::string_view id) {
  const auto ended = last_end_.find(id);
  if (ended == last_end_.end()) {
    Report(line, "run " + std::string(id) + " ended but never began");
  } else {
    Report(line, "run " + std::string(id) + " ended again (already ended at line " +
                     std::to_string(ended->second) + ")");
  }
}

void Replay::TrackExcursion(std::size_t line) {
  if (!excursion_) {
    excursion_ = Excursion{report_.violations.size(), active_, active_, line};
    Report(line, "");
  } else if (active_ > excursion_->peak) {
    excursion_->peak = active_;
    excursion_->peak_line = line;
  }
}

void Replay::CloseExcursion() {
  std::string message = "concurrency " + std::to_string(excursion_->first) + " above limit " +
                        std::to_string(options_.limit);
  if (excursion_->peak > excursion_->first) {
    message += ", peak " + std::to_string(excursion_->peak) + " at line " +
               std::to_string(excursion_->peak_line);
  }
  report_.violations[excursion_->violation].message = std::move(message);
  excursion_.reset();
}

void Replay::CheckWholeLog() {
  if (options_.expected_ids) {
    for (const std::string& id : *options_.expected_ids) {
      if (!first_begin_.contains(id)) Report(0, "expected run " + id + " never began");
    }
  }
  if (options_.expected_count && first_begin_.size() != *options_.expected_count) {
    Report(0, "expected " + std::to_string(*options_.expected_count) + " runs, saw " +
                  std::to_string(first_begin_.size()));
  }
  if (options_.require_limit_reached && report_.max_concurrency < options_.limit) {
    Report(0, "limit " + std::to_string(options_.limit) + " never reached: max " +
                  std::to_string(report_.max_concurrency));
  }
}

VerifyReport Replay::Finish() && {
  if (excursion_) CloseExcursion();
  for (const auto& [id, runs] : open_) {
    for (const OpenRun& run : runs) Report(run.line, "run " + id + " began but never ended");
  }
  std::stable_sort(report_.violations.begin(), report_.violations.end(),
                   [](const Violation& a, const Violation& b) { return a.line < b.line; });
  CheckWholeLog();
  report_.runs = first_begin_.size();
  return std::move(report_);
}

void ReplayLine(Replay& replay, std::size_t line_number, std::string_view line) {
  const jobserver::Result<Record> record = ParseRecord(line);
  if (!record.ok()) {
    replay.Report(line_number, record.error().message);
  } else if (record->verb == Verb::kBegin) {
    replay.Begin(line_number, record.value());
  } else {
    replay.End(line_number, record.value());
  }
}

}  // namespace

VerifyReport VerifyLog(std::string_view log_text, const VerifyOptions& options) {
  assert(options.limit >= 1);
  Replay replay(options);
  std::size_t line_number = 0;
  while (!log_text.empty()) {
    ++line_number;
    const std::size_t newline = log_text.find('\n');
    if (newline == std::string_view::npos) {
      // Every record ends in '\n' and is written whole, so this one was cut short.
      replay.Report(line_number,
                    "incomplete last line (no newline): \"" + std::string(log_text) + "\"");
      break;
    }
    ReplayLine(replay, line_number, log_text.substr(0, newline));
    log_text.remove_prefix(newline + 1);
  }
  return std::move(replay).Finish();
}

jobserver::Result<std::string> ReadTextFile(const std::string& path) {
  const jobserver::UniqueFd fd(
      jobserver::RetryOnEintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); }));
  if (!fd) return jobserver::SystemError(path);
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n =
        jobserver::RetryOnEintr([&] { return ::read(fd.get(), buffer, sizeof buffer); });
    if (n < 0) return jobserver::SystemError(path);
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

std::ostream& operator<<(std::ostream& out, const Violation& violation) {
  if (violation.line != 0) out << "line " << violation.line << ": ";
  return out << violation.message;
}

std::ostream& operator<<(std::ostream& out, const VerifyReport& report) {
  out << report.runs << " runs, max concurrency " << report.max_concurrency << ", "
      << report.violations.size() << " violations";
  for (const Violation& violation : report.violations) out << "\n  " << violation;
  return out;
}

}  // namespace tierun::testing
