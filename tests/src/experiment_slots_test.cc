#include "src/experiment_slots_posix.h"

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

bool Readable(int fd, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

/// Two runners of one experiment: each opens the slot files itself, as two
/// tierun processes do (flock keeps separate open file descriptions apart
/// even within one process).
class ExperimentSlotsTest : public ::testing::Test {
 protected:
  std::unique_ptr<ExperimentSlots> OpenSlots(int slots) {
    auto opened = ExperimentSlots::Open(dir_.Child(".eval.slots"), slots);
    EXPECT_TRUE(opened) << opened.error().message;
    return opened ? std::move(*opened) : nullptr;
  }

  test::ScopedTempDir dir_;
};

// The directory sits beside the experiment directory, as the setup lock.
TEST(ExperimentSlotsDirectoryTest, BesideTheExperimentDirectory) {
  EXPECT_EQ(ExperimentSlots::DirectoryFor("results/eval"), "results/.eval.slots");
  EXPECT_EQ(ExperimentSlots::DirectoryFor("/b/tierun-results/eval/"),
            "/b/tierun-results/.eval.slots");
  EXPECT_EQ(ExperimentSlots::DirectoryFor("eval"), ".eval.slots");
}

// N slots in all, whoever takes them; a slot given back is free for anyone.
TEST_F(ExperimentSlotsTest, AtMostNAcrossRunners) {
  auto first = OpenSlots(2);
  auto second = OpenSlots(2);
  ASSERT_TRUE(first && second);
  ExperimentSlot a = first->TryTake();
  ExperimentSlot b = second->TryTake();
  EXPECT_TRUE(a.valid());
  EXPECT_TRUE(b.valid());
  EXPECT_FALSE(first->TryTake().valid());
  EXPECT_FALSE(second->TryTake().valid());
  a.Return();
  EXPECT_TRUE(second->TryTake().valid());
  EXPECT_EQ(first->held(), 0);
}

// A runner waiting for a slot gets a pollable fd that stays quiet while
// every slot is busy, turns readable when one is given back, and then the
// slot is its own: the runner that gave it back cannot take it again.
TEST_F(ExperimentSlotsTest, WaitingWakesWhenASlotIsGivenBack) {
  auto holder = OpenSlots(1);
  auto waiter = OpenSlots(1);
  ASSERT_TRUE(holder && waiter);
  ExperimentSlot held = holder->TryTake();
  ASSERT_TRUE(held.valid());
  auto fd = waiter->StartWaiting();
  ASSERT_TRUE(fd) << fd.error().message;
  EXPECT_FALSE(Readable(*fd, 100));
  held.Return();
  ASSERT_TRUE(Readable(*fd, 10000));
  ASSERT_TRUE(waiter->CollectWaiters().ok());
  EXPECT_EQ(waiter->held(), 1);
  EXPECT_FALSE(holder->TryTake().valid());
  EXPECT_TRUE(waiter->TryTake().valid());
}

// A holder SIGKILLed with its slots: the kernel frees them, and a waiter
// gets one. No slot is ever lost.
TEST_F(ExperimentSlotsTest, AKilledHolderFreesItsSlots) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t holder = fork();
  ASSERT_NE(holder, -1);
  if (holder == 0) {
    auto slots = ExperimentSlots::Open(dir_.Child(".eval.slots"), 2);
    ExperimentSlot a = slots ? (*slots)->TryTake() : ExperimentSlot();
    ExperimentSlot b = slots ? (*slots)->TryTake() : ExperimentSlot();
    const char held = a.valid() && b.valid() ? 'h' : 'x';
    if (write(ready[1], &held, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char held = 0;
  ASSERT_EQ(read(ready[0], &held, 1), 1);
  close(ready[0]);
  ASSERT_EQ(held, 'h');
  auto waiter = OpenSlots(2);
  ASSERT_TRUE(waiter);
  EXPECT_FALSE(waiter->TryTake().valid());
  auto fd = waiter->StartWaiting();
  ASSERT_TRUE(fd);
  EXPECT_FALSE(Readable(*fd, 50));
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  ASSERT_TRUE(Readable(*fd, 10000));
  ASSERT_TRUE(waiter->CollectWaiters().ok());
  EXPECT_TRUE(waiter->TryTake().valid());
}

// A runner that stops waiting gives back what its helpers took for it
// and what it held for no agent: another runner can take every slot.
TEST_F(ExperimentSlotsTest, StopWaitingGivesBackWhatHelpersTook) {
  auto holder = OpenSlots(2);
  auto waiter = OpenSlots(2);
  ASSERT_TRUE(holder && waiter);
  ExperimentSlot a = holder->TryTake();
  ExperimentSlot b = holder->TryTake();
  auto fd = waiter->StartWaiting();
  ASSERT_TRUE(fd);
  a.Return();
  ASSERT_TRUE(Readable(*fd, 10000));  // The helper holds it for the waiter now.
  EXPECT_FALSE(holder->TryTake().valid());
  waiter->StopWaiting();
  EXPECT_EQ(waiter->held(), 0);
  b.Return();
  ExperimentSlot again_a = holder->TryTake();
  ExperimentSlot again_b = holder->TryTake();
  EXPECT_TRUE(again_a.valid());
  EXPECT_TRUE(again_b.valid());
}

// Agents share the results tree: a symlink planted as a slot file is
// refused, never followed.
TEST_F(ExperimentSlotsTest, APlantedSymlinkIsRefused) {
  const std::string dir = dir_.Child(".eval.slots");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(symlink(dir_.Child("elsewhere").c_str(), (dir + "/slot.2").c_str()), 0);
  auto opened = ExperimentSlots::Open(dir, 2);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().kind, jobserver::ErrorKind::kUnusable);
  EXPECT_EQ(opened.error().message, dir + "/slot.2 is a symbolic link, not a slot file");
  struct stat st;
  EXPECT_EQ(lstat(dir_.Child("elsewhere").c_str(), &st), -1);
}

TEST_F(ExperimentSlotsTest, NoSlotsIsInvalid) {
  auto opened = ExperimentSlots::Open(dir_.Child(".eval.slots"), 0);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().kind, jobserver::ErrorKind::kInvalid);
}

}  // namespace
}  // namespace tierun
