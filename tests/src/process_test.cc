#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "src/exit_status.h"
#include "src/paid_process_posix.h"
#include "src/process_output.h"
#include "src/subprocess_posix.h"

namespace tierun {
namespace {

// Exit statuses read like a shell reports them.
TEST(ExitStatusTest, DescribesAndMapsToShellCodes) {
  EXPECT_EQ(ExitStatus::Exited(3).Describe(), "exited with status 3");
  EXPECT_EQ(ExitStatus::Exited(3).ShellCode(), 3);
  EXPECT_EQ(ExitStatus::Signaled(SIGKILL).Describe(), "killed by signal 9 (Killed)");
  EXPECT_EQ(ExitStatus::Signaled(SIGKILL).ShellCode(), 137);
}

// The child's status comes back through Wait().
TEST(SubprocessTest, ReportsExitCodeAndSignal) {
  auto exits = Subprocess::Spawn({.argv = {"sh", "-c", "exit 7"}});
  ASSERT_TRUE(exits.ok()) << exits.error().message;
  EXPECT_EQ(exits->Wait().ShellCode(), 7);
  auto killed = Subprocess::Spawn({.argv = {"sh", "-c", "kill -SEGV $$"}});
  ASSERT_TRUE(killed.ok());
  ExitStatus status = killed->Wait();
  EXPECT_TRUE(status.signaled());
  EXPECT_EQ(status.signal_number(), SIGSEGV);
}

// A program that does not exist is an error, not a child that exits 127.
TEST(SubprocessTest, MissingProgramIsAnError) {
  auto child = Subprocess::Spawn({.argv = {"/nonexistent/program"}});
  ASSERT_FALSE(child.ok());
  EXPECT_NE(child.error().message.find("No such file or directory"), std::string::npos);
}

// Environment additions replace inherited values.
TEST(SubprocessTest, SetsEnvironment) {
  setenv("TIERUN_TEST_VARIABLE", "old", 1);
  const std::string out = CaptureOutput({"sh", "-c", "printf %s \"$TIERUN_TEST_VARIABLE\""});
  EXPECT_EQ(out, "old");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  auto child = Subprocess::Spawn({.argv = {"sh", "-c", "printf %s \"$TIERUN_TEST_VARIABLE\""},
                                  .environment = {{"TIERUN_TEST_VARIABLE", "new"}},
                                  .stdout_fd = fds[1]});
  close(fds[1]);
  ASSERT_TRUE(child.ok());
  char buffer[16] = {};
  EXPECT_EQ(read(fds[0], buffer, sizeof buffer), 3);
  EXPECT_STREQ(buffer, "new");
  child->Wait();
  close(fds[0]);
  unsetenv("TIERUN_TEST_VARIABLE");
}

// The child runs in a process group of its own, so Signal() reaches all of it.
TEST(SubprocessTest, SignalReachesTheWholeGroup) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // The grandchild writes when it runs; both must die of the group signal.
  auto child = Subprocess::Spawn(
      {.argv = {"sh", "-c", "sleep 600 & echo started; wait"}, .stdout_fd = fds[1]});
  close(fds[1]);
  ASSERT_TRUE(child.ok());
  char buffer[8];
  ASSERT_GT(read(fds[0], buffer, sizeof buffer), 0);
  EXPECT_EQ(getpgid(child->pid()), child->pid());
  child->Signal(SIGTERM);
  EXPECT_EQ(child->Wait().signal_number(), SIGTERM);
  // The pipe reaches EOF only when the grandchild (sleep) is gone too.
  EXPECT_EQ(read(fds[0], buffer, sizeof buffer), 0);
  close(fds[0]);
}

// /proc parsing: this process, and its parent.
TEST(PaidProcessTest, ReadsThisProcess) {
  auto self = ReadProcessInfo(getpid());
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(self->key.pid, getpid());
  EXPECT_EQ(self->parent, getppid());
  EXPECT_GT(self->key.start_time, 0u);
  EXPECT_EQ(self->name, "tierun_src_test");
  EXPECT_FALSE(IsPayer(*self));
  EXPECT_FALSE(ReadProcessInfo(0).has_value());
}

// A program named make is a payer; one started by it is the paid process.
TEST(PaidProcessTest, ChildOfMakeIsPaid) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // make runs the recipe's shell, which reports its own pid and waits.
  auto make = Subprocess::Spawn(
      {.argv = {"make", "-s", "-f", "/dev/null", "--eval=all: ; @echo $$$$; exec sleep 600"},
       .stdout_fd = fds[1]});
  close(fds[1]);
  ASSERT_TRUE(make.ok()) << make.error().message;
  char buffer[32] = {};
  ASSERT_GT(read(fds[0], buffer, sizeof buffer - 1), 0);
  const pid_t recipe = atoi(buffer);
  auto paid = FindPaidProcess(recipe);
  ASSERT_TRUE(paid.has_value());
  EXPECT_EQ(paid->pid, recipe);
  auto make_info = ReadProcessInfo(make->pid());
  ASSERT_TRUE(make_info.has_value());
  EXPECT_TRUE(IsPayer(*make_info));
  close(fds[0]);
}

}  // namespace
}  // namespace tierun
