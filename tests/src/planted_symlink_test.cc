// Symlinks planted in the results tree (by an agent, or anyone who can write
// there) cannot redirect what tierun writes: reports replace them, logs and
// the journal refuse them, and the file they point to stays as it was.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "src/agent_process.h"
#include "src/atomic_file.h"
#include "src/event_log.h"
#include "tests/support/jobserver_printers.h"
#include "tests/support/plan_builders.h"
#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

using ::testing::HasSubstr;

class PlantedSymlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteFileAtomically(victim_, "precious\n").ok());
    ASSERT_TRUE(MakeDirectories(run_dir_).ok());
  }
  void Plant(const std::string& name) const {
    ASSERT_EQ(symlink(victim_.c_str(), (run_dir_ + "/" + name).c_str()), 0);
  }
  static std::string Read(const std::string& path) {
    jobserver::Result<std::string> text = ReadWholeFile(path);
    return text.ok() ? *text : "(unreadable: " + text.error().message + ")";
  }
  std::string Victim() const { return Read(victim_); }

  test::ScopedTempDir dir_;
  const std::string victim_ = dir_.path() + "/outside.txt";
  const std::string run_dir_ = dir_.path() + "/results/demo/T0/s/run_01";
};

TEST_F(PlantedSymlinkTest, AReportReplacesTheLinkAndLeavesItsTarget) {
  Plant("report.json");
  ASSERT_TRUE(WriteFileAtomically(run_dir_ + "/report.json", "{}\n").ok());
  EXPECT_EQ(Victim(), "precious\n");
  char target[256];
  EXPECT_EQ(readlink((run_dir_ + "/report.json").c_str(), target, sizeof target), -1)
      << "report.json is still a symlink";
  EXPECT_EQ(Read(run_dir_ + "/report.json"), "{}\n");
}

TEST_F(PlantedSymlinkTest, ALogIsRefused) {
  Plant("stdout.log");
  Plan plan = test::MakePlan("demo", {test::MakeTier("T0", {"s"}, 1)});
  plan.tiers[0].agent.argv = {"/bin/echo", "overwritten"};
  AttemptSpec spec{&plan, &plan.tiers[0], "s", 1, 1, run_dir_, false, {}, {}};
  jobserver::Result<Subprocess> started = StartAttempt(spec);
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(started.error().message, HasSubstr("stdout.log"));
  EXPECT_EQ(Victim(), "precious\n");
}

TEST_F(PlantedSymlinkTest, TheJournalIsRefused) {
  Plant("events.jsonl");
  EventLog events(run_dir_ + "/events.jsonl");
  testing::internal::CaptureStderr();
  events.Record("start");
  const std::string warning = testing::internal::GetCapturedStderr();
  EXPECT_THAT(warning, HasSubstr("events are no longer journaled"));
  EXPECT_EQ(Victim(), "precious\n");
}

}  // namespace
}  // namespace tierun
