// The launcher thread starts attempts in the order given, hands back each
// process or error with its ticket, and wakes the event loop through its fd.

#include "src/attempt_launcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/support/jobserver_printers.h"
#include "tests/support/plan_builders.h"
#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

using test::MakePlan;
using test::MakeTier;
using ::testing::HasSubstr;

class AttemptLauncherTest : public ::testing::Test {
 protected:
  AttemptSpec Spec(int run) const {
    return AttemptSpec{&plan_, &plan_.tiers[0],
                       "s",    run,
                       1,      dir_.path() + "/T0/s/run_0" + std::to_string(run),
                       false,  {},
                       {}};
  }

  /// Everything started for `count` submissions, waiting on the fd as the
  /// scheduler does (no sleeping: poll() returns when the thread has news).
  std::vector<AttemptLauncher::Started> WaitForStarted(AttemptLauncher& launcher, size_t count) {
    std::vector<AttemptLauncher::Started> all;
    while (all.size() < count) {
      struct pollfd fd = {launcher.ready_fd(), POLLIN, 0};
      if (poll(&fd, 1, 60'000) != 1) {
        ADD_FAILURE() << "the launcher did not report within 60 s";
        break;
      }
      for (auto& started : launcher.TakeStarted()) all.push_back(std::move(started));
    }
    return all;
  }

  test::ScopedTempDir dir_;
  Plan plan_ = MakePlan("demo", {MakeTier("T0", {"s"}, 3)});
};

TEST_F(AttemptLauncherTest, StartsAttemptsInOrderAndHandsThemBack) {
  plan_.tiers[0].agent.argv = {"/bin/sh", "-c", "echo run $TIERUN_RUN"};
  auto launcher = AttemptLauncher::Create();
  ASSERT_TRUE(launcher.ok()) << launcher.error().message;
  std::vector<uint64_t> tickets;
  for (int run = 1; run <= 3; ++run) tickets.push_back((*launcher)->Submit(Spec(run)));

  std::vector<AttemptLauncher::Started> started = WaitForStarted(**launcher, 3);
  ASSERT_EQ(started.size(), 3u);
  for (size_t i = 0; i < started.size(); ++i) {
    EXPECT_EQ(started[i].ticket, tickets[i]);
    ASSERT_TRUE(started[i].process.ok()) << started[i].process.error().message;
    const ExitStatus status = started[i].process->Wait();
    EXPECT_TRUE(status.exited() && status.code() == 0) << status.Describe();
    const std::string log = Spec(static_cast<int>(i) + 1).run_dir + "/stdout.log";
    EXPECT_EQ(ReadTail(log, 100), "run " + std::to_string(i + 1) + "\n");
  }
  EXPECT_TRUE((*launcher)->TakeStarted().empty());
}

// A program that cannot run comes back as the error, and the attempts after
// it still start.
TEST_F(AttemptLauncherTest, AnAttemptThatCannotStartComesBackAsItsError) {
  plan_.tiers.push_back(MakeTier("T1", {"s"}, 1));
  plan_.tiers[0].agent.argv = {dir_.path() + "/no-such-program"};
  plan_.tiers[1].agent.argv = {"/bin/true"};
  auto launcher = AttemptLauncher::Create();
  ASSERT_TRUE(launcher.ok()) << launcher.error().message;
  (*launcher)->Submit(Spec(1));
  AttemptSpec later = Spec(2);
  later.tier = &plan_.tiers[1];
  (*launcher)->Submit(later);

  std::vector<AttemptLauncher::Started> started = WaitForStarted(**launcher, 2);
  ASSERT_EQ(started.size(), 2u);
  ASSERT_FALSE(started[0].process.ok());
  EXPECT_EQ(started[0].process.error().kind, jobserver::ErrorKind::kUnusable);
  EXPECT_THAT(started[0].process.error().message, HasSubstr("no-such-program"));
  ASSERT_TRUE(started[1].process.ok()) << started[1].process.error().message;
  EXPECT_EQ(started[1].process->Wait().code(), 0);
}

// Withdrawn attempts never start: what was withdrawn and what started are
// the submissions split in two, the started ones first, in order. (Which
// split happens depends on the thread; the property holds for every one.)
TEST_F(AttemptLauncherTest, WithdrawnAttemptsNeverStart) {
  plan_.tiers[0].agent.argv = {"/bin/true"};
  plan_.tiers[0].runs = 8;
  auto launcher = AttemptLauncher::Create();
  ASSERT_TRUE(launcher.ok()) << launcher.error().message;
  std::vector<uint64_t> submitted;
  for (int run = 1; run <= 8; ++run) submitted.push_back((*launcher)->Submit(Spec(run)));
  const std::vector<uint64_t> withdrawn = (*launcher)->Withdraw();
  ASSERT_LE(withdrawn.size(), submitted.size());
  const size_t starting = submitted.size() - withdrawn.size();
  EXPECT_TRUE(std::equal(withdrawn.begin(), withdrawn.end(), submitted.begin() + starting));
  std::vector<AttemptLauncher::Started> started = WaitForStarted(**launcher, starting);
  ASSERT_EQ(started.size(), starting);
  for (size_t i = 0; i < starting; ++i) {
    EXPECT_EQ(started[i].ticket, submitted[i]);
    ASSERT_TRUE(started[i].process.ok());
    started[i].process->Wait();
  }
  for (size_t i = starting; i < submitted.size(); ++i) {
    struct stat st;
    EXPECT_NE(stat(Spec(static_cast<int>(i) + 1).run_dir.c_str(), &st), 0)
        << "withdrawn run " << i + 1 << " was started";
  }
  EXPECT_TRUE((*launcher)->Withdraw().empty());
}

// The fd is readable exactly while something waits to be taken.
TEST_F(AttemptLauncherTest, ReadyFdIsReadableOnlyWhileStartsWait) {
  plan_.tiers[0].agent.argv = {"/bin/true"};
  auto launcher = AttemptLauncher::Create();
  ASSERT_TRUE(launcher.ok()) << launcher.error().message;
  struct pollfd fd = {(*launcher)->ready_fd(), POLLIN, 0};
  EXPECT_EQ(poll(&fd, 1, 0), 0);
  (*launcher)->Submit(Spec(1));
  std::vector<AttemptLauncher::Started> started = WaitForStarted(**launcher, 1);
  ASSERT_EQ(started.size(), 1u);
  ASSERT_TRUE(started[0].process.ok());
  started[0].process->Wait();
  EXPECT_EQ(poll(&fd, 1, 0), 0);
}

}  // namespace
}  // namespace tierun
