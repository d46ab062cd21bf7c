// WriteFileAtomically()'s temporaries: one a killed writer left is removed
// by the next report rebuild; a live writer's, and other files, are not.

#include "src/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

/// A pid that has just ended (its child reaped): nobody runs under it now.
pid_t EndedPid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

TEST(RemoveStaleTemporariesTest, RemovesOnlyThoseOfEndedWriters) {
  test::ScopedTempDir dir;
  auto temporary = [&](pid_t pid, int n) {
    return dir.path() + "/report.json.tmp." + std::to_string(pid) + "." + std::to_string(n);
  };
  const std::string stale = temporary(EndedPid(), 3);
  const std::string live = temporary(getppid(), 1);
  const std::string ours = temporary(getpid(), 2);
  const std::string others[] = {dir.path() + "/report.json", dir.path() + "/x.tmp.abc.1",
                                dir.path() + "/x.tmp.12"};
  for (const std::string& path : {stale, live, ours, others[0], others[1], others[2]}) {
    ASSERT_TRUE(WriteFileAtomically(path, "{}\n").ok()) << path;
  }
  RemoveStaleTemporaries(dir.path());
  EXPECT_FALSE(Exists(stale));
  EXPECT_TRUE(Exists(live));
  EXPECT_TRUE(Exists(ours));
  for (const std::string& path : others) EXPECT_TRUE(Exists(path)) << path;
}

}  // namespace
}  // namespace tierun
