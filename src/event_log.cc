#include "src/event_log.h"

#include <fcntl.h>
#include <stdio.h>
#include <time.h>

#include "src/atomic_file.h"

namespace tierun {

std::string UtcNow() {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm utc;
  gmtime_r(&now.tv_sec, &utc);
  char text[40];
  const size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(text + n, sizeof text - n, ".%03ldZ", now.tv_nsec / 1000000);
  return text;
}

void EventLog::Record(std::string_view event, JsonLine fields, std::string_view time) {
  std::string line = fields.AddString("time", time.empty() ? UtcNow() : std::string(time))
                         .AddString("event", event)
                         .Finish();
  line += '\n';
  // One open for the session, not one per event: a run has several.
  jobserver::Status appended;
  if (!fd_) {
    jobserver::Result<jobserver::UniqueFd> opened = OpenFile(path_, O_WRONLY | O_CREAT | O_APPEND);
    if (opened) fd_ = std::move(*opened);
    if (!opened) appended = opened.error();
  }
  if (fd_) appended = AppendLine(fd_.get(), path_, line);
  if (!appended && !warned_) {
    warned_ = true;
    fprintf(stderr, "tierun: warning: %s; events are no longer journaled\n",
            appended.error().message.c_str());
  }
}

}  // namespace tierun
