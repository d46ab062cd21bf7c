#include "src/process_output.h"

#include <fcntl.h>
#include <unistd.h>

#include "jobserver/unique_fd.h"
#include "src/subprocess_posix.h"

namespace tierun {

std::string CaptureOutput(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) == -1) return {};
  jobserver::UniqueFd read_end(fds[0]);
  jobserver::UniqueFd write_end(fds[1]);
  jobserver::UniqueFd null_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
  SpawnOptions options;
  options.argv = argv;
  options.new_process_group = false;
  options.stdout_fd = write_end.get();
  options.stderr_fd = null_fd.get();
  auto child = Subprocess::Spawn(options);
  write_end.reset();
  if (!child) return {};
  std::string text;
  char buffer[512];
  ssize_t n;
  while ((n = jobserver::RetryOnEintr(
              [&] { return read(read_end.get(), buffer, sizeof buffer); })) > 0) {
    text.append(buffer, static_cast<size_t>(n));
  }
  child->Wait();
  return text;
}

}  // namespace tierun
