#pragma once

/// events.jsonl: one JSON object per line for every start, finish, retry,
/// pause and interruption, with a UTC timestamp. Each line is one write() on
/// an O_APPEND file, so a killed runner leaves whole lines only (at most the
/// last one missing). It is a journal for people and tests; resume never
/// depends on it -- the run reports are the checkpoint.

#include <string>

#include "jobserver/unique_fd.h"
#include "src/json_text.h"

namespace tierun {

/// "2026-11-29T00:04:26.123Z"
std::string UtcNow();

class EventLog {
 public:
  explicit EventLog(std::string path) : path_(std::move(path)) {}
  /// Adds "time" (`time`, or now) and "event" to `fields` and appends the
  /// line. A failed append is reported once on stderr and otherwise ignored:
  /// the journal must not stop the experiment.
  void Record(std::string_view event, JsonLine fields = JsonLine(), std::string_view time = {});

 private:
  std::string path_;
  jobserver::UniqueFd fd_;  ///< Opened (O_APPEND) at the first record, kept open.
  bool warned_ = false;
};

}  // namespace tierun
