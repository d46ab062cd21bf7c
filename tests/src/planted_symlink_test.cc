// Symlinks and FIFOs planted in the results tree (by an agent, or anyone who
// can write there) cannot redirect what tierun writes, nor block it: reports
// and logs replace what is planted at their name, the journal refuses it, a
// symlink at a directory on the way refuses the write, and whatever they
// point to stays as it was.

#include <errno.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "src/agent_process.h"
#include "src/atomic_file.h"
#include "src/event_log.h"
#include "src/reports.h"
#include "tests/support/jobserver_printers.h"
#include "tests/support/plan_builders.h"
#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

using ::testing::HasSubstr;

std::string Read(const std::string& path) {
  jobserver::Result<std::string> text = ReadWholeFile(path);
  return text.ok() ? *text : "(unreadable: " + text.error().message + ")";
}

class PlantedSymlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteFileAtomically(victim_, "precious\n").ok());
    ASSERT_TRUE(MakeDirectories(run_dir_).ok());
  }
  void Plant(const std::string& name) const {
    ASSERT_EQ(symlink(victim_.c_str(), (run_dir_ + "/" + name).c_str()), 0);
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

AttemptSpec EchoAttempt(const Plan& plan, const std::string& run_dir) {
  return AttemptSpec{&plan, &plan.tiers[0], "s", 1, 1, run_dir, false, {}, {}};
}

Plan EchoPlan() {
  Plan plan = test::MakePlan("demo", {test::MakeTier("T0", {"s"}, 1)});
  plan.tiers[0].agent.argv = {"/bin/echo", "written"};
  return plan;
}

TEST_F(PlantedSymlinkTest, ALogReplacesTheLinkAndLeavesItsTarget) {
  Plant("stdout.log");
  const Plan plan = EchoPlan();
  jobserver::Result<Subprocess> started = StartAttempt(EchoAttempt(plan, run_dir_));
  ASSERT_TRUE(started.ok()) << started.error().message;
  EXPECT_TRUE(started->Wait().exited());
  EXPECT_EQ(Victim(), "precious\n");
  struct stat st;
  ASSERT_EQ(lstat((run_dir_ + "/stdout.log").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "stdout.log is not a new regular file";
  EXPECT_EQ(Read(run_dir_ + "/stdout.log"), "written\n");
}

/// Runs `action`; true unless it waited on the FIFO `fifo` for 10 s. Then a
/// watchdog opens the FIFO's both ends (O_RDWR) to let it go on, so that a
/// wait fails the test instead of hanging it.
template <typename Action>
bool RunsWithoutWaitingOn(const std::string& fifo, Action action) {
  std::mutex mutex;
  std::condition_variable done_changed;
  bool done = false;
  bool waited = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mutex);
    if (done_changed.wait_for(lock, std::chrono::seconds(10), [&] { return done; })) return;
    waited = true;
    jobserver::UniqueFd both_ends(open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
    done_changed.wait(lock, [&] { return done; });
  });
  action();
  {
    std::lock_guard<std::mutex> lock(mutex);
    done = true;
  }
  done_changed.notify_one();
  watchdog.join();
  return !waited;
}

// Opening a FIFO for writing waits for a reader: a FIFO planted as a log
// would hold the launcher thread, and with it every start, for good.
TEST_F(PlantedSymlinkTest, AFifoAtALogDoesNotBlockTheStart) {
  const std::string fifo = run_dir_ + "/stdout.log";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const Plan plan = EchoPlan();
  std::optional<jobserver::Result<Subprocess>> started;
  EXPECT_TRUE(RunsWithoutWaitingOn(fifo, [&] {
    started.emplace(StartAttempt(EchoAttempt(plan, run_dir_)));
  })) << "the start waited in open() on the FIFO";
  ASSERT_TRUE(started->ok()) << started->error().message;
  EXPECT_TRUE((*started)->Wait().exited());
  EXPECT_EQ(Read(fifo), "written\n");
}

// The event loop reads what an agent left: a FIFO there, with no writer,
// would hold it in open() or read() for good.
TEST_F(PlantedSymlinkTest, AFifoAsAResultFileIsRefusedWithoutWaiting) {
  const std::string fifo = run_dir_ + "/result.json";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::optional<jobserver::Result<AgentReport>> report;
  EXPECT_TRUE(RunsWithoutWaitingOn(fifo, [&] { report.emplace(ReadAgentReport(fifo)); }))
      << "reading result.json waited on the FIFO";
  ASSERT_FALSE(report->ok());
  EXPECT_THAT(report->error().message, HasSubstr("not a regular file"));
  std::string tail = "unset";
  EXPECT_TRUE(RunsWithoutWaitingOn(fifo, [&] { tail = ReadTail(fifo, 4096); }))
      << "reading the tail of a log waited on the FIFO";
  EXPECT_EQ(tail, "");
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

/// Confines writes below `dir` for the test's lifetime.
class ScopedConfinement {
 public:
  explicit ScopedConfinement(const std::string& dir) {
    const jobserver::Status confined = ConfineWritesBelow(dir);
    EXPECT_TRUE(confined.ok()) << confined.error().message;
  }
  ~ScopedConfinement() { static_cast<void>(ConfineWritesBelow("")); }
  ScopedConfinement(const ScopedConfinement&) = delete;
  ScopedConfinement& operator=(const ScopedConfinement&) = delete;
};

// A symlink at a directory on the way: a tier, a subtest or a run directory
// an agent replaced with a link to somewhere else.
class PlantedDirectoryLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MakeDirectories(outside_).ok());
    ASSERT_TRUE(MakeDirectories(experiment_).ok());
  }
  /// Makes `relative` (below the experiment directory) a link to outside_.
  void PlantLink(const std::string& relative) const {
    ASSERT_TRUE(
        MakeDirectories(std::filesystem::path(experiment_ + "/" + relative).parent_path().string())
            .ok());
    ASSERT_EQ(symlink(outside_.c_str(), (experiment_ + "/" + relative).c_str()), 0);
  }
  std::vector<std::string> Outside() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(outside_)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  test::ScopedTempDir dir_;
  const std::string outside_ = dir_.path() + "/outside";
  const std::string experiment_ = dir_.path() + "/results/demo";
};

TEST_F(PlantedDirectoryLinkTest, AReportBelowALinkedTierIsRefused) {
  PlantLink("T0");
  ScopedConfinement confined(experiment_);
  const jobserver::Status written = WriteFileAtomically(experiment_ + "/T0/report.json", "{}\n");
  ASSERT_FALSE(written.ok());
  EXPECT_THAT(written.error().message, HasSubstr("symlink"));
  EXPECT_THAT(Outside(), ::testing::IsEmpty());
}

TEST_F(PlantedDirectoryLinkTest, ARunReportInALinkedRunDirectoryIsRefused) {
  PlantLink("T0/s/run_01");
  ScopedConfinement confined(experiment_);
  const jobserver::Status written =
      WriteFileAtomically(experiment_ + "/T0/s/run_01/report.json", "{}\n");
  ASSERT_FALSE(written.ok());
  EXPECT_THAT(written.error().message, HasSubstr("symlink"));
  EXPECT_THAT(Outside(), ::testing::IsEmpty());
}

TEST_F(PlantedDirectoryLinkTest, AnAttemptBelowALinkedSubtestIsRefused) {
  PlantLink("T0/s");
  ScopedConfinement confined(experiment_);
  const Plan plan = EchoPlan();
  jobserver::Result<Subprocess> started =
      StartAttempt(EchoAttempt(plan, experiment_ + "/T0/s/run_01"));
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(started.error().message, HasSubstr("symlink"));
  EXPECT_THAT(Outside(), ::testing::IsEmpty());
}

TEST_F(PlantedDirectoryLinkTest, ALinkedRunDirectoryIsNamedAsALink) {
  PlantLink("T0/s/run_01");
  ScopedConfinement confined(experiment_);
  const jobserver::Status made = MakeDirectories(experiment_ + "/T0/s/run_01");
  ASSERT_FALSE(made.ok());
  EXPECT_THAT(made.error().message, HasSubstr("run_01 is a symlink"));
}

TEST_F(PlantedDirectoryLinkTest, StaleTemporariesBehindALinkAreNotRemoved) {
  // A pid no process has: the temporary looks stale.
  const std::string stale = outside_ + "/report.json.tmp.2147483646.0";
  ASSERT_TRUE(WriteFileAtomically(stale, "x").ok());
  PlantLink("T0");
  ScopedConfinement confined(experiment_);
  RemoveStaleTemporaries(experiment_ + "/T0");
  EXPECT_THAT(Outside(), ::testing::ElementsAre("report.json.tmp.2147483646.0"));
}

TEST_F(PlantedDirectoryLinkTest, TheExperimentDirectoryMayItselfBeReachedByALink) {
  // results/ on another disk, say: the user's choice, followed.
  const std::string alias = dir_.path() + "/alias";
  ASSERT_EQ(symlink(experiment_.c_str(), alias.c_str()), 0);
  ScopedConfinement confined(alias);
  ASSERT_TRUE(WriteFileAtomically(alias + "/T0/s/run_01/report.json", "{}\n").ok());
  EXPECT_EQ(Read(experiment_ + "/T0/s/run_01/report.json"), "{}\n");
}

/// Moves the experiment directory to <experiment>.moved and puts a symlink
/// to outside_ at its name, as an agent can while tierun runs.
void SwapForALink(const std::string& experiment, const std::string& outside) {
  ASSERT_EQ(rename(experiment.c_str(), (experiment + ".moved").c_str()), 0);
  ASSERT_EQ(symlink(outside.c_str(), experiment.c_str()), 0);
}

// The experiment directory itself swapped for a link while tierun ran: the
// reports (report.json, report.md, junit.xml, sub-test and tier reports) go
// to the directory tierun opened, and the swap is seen.
TEST_F(PlantedDirectoryLinkTest, ASwappedExperimentDirectoryKeepsTheReports) {
  ScopedConfinement confined(experiment_);
  EXPECT_EQ(ConfinementMoved(), std::nullopt);
  SwapForALink(experiment_, outside_);
  const Plan plan = EchoPlan();
  const jobserver::Status written =
      WriteReports(experiment_, plan, {test::MakeRecord("T0", "s", 1, 1.0, true, 0.5)});
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_THAT(Outside(), ::testing::IsEmpty());
  for (const char* report : {"report.json", "report.md", "junit.xml", "T0/report.json"}) {
    EXPECT_NE(Read(experiment_ + ".moved/" + report).find("T0"), std::string::npos) << report;
  }
  EXPECT_EQ(ConfinementMoved(), experiment_ + ".moved");
}

// A run report read back for the reports comes from the directory tierun
// opened, not from what is at its path now.
TEST_F(PlantedDirectoryLinkTest, ASwappedExperimentDirectoryIsReadThroughItsDescriptor) {
  ScopedConfinement confined(experiment_);
  const Plan plan = EchoPlan();
  ASSERT_TRUE(WriteFileAtomically(
                  experiment_ + "/T0/s/run_01/report.json",
                  RunRecordText(test::MakeRecord("T0", "s", 1, 0.25, true, std::nullopt)) + "\n")
                  .ok());
  SwapForALink(experiment_, outside_);
  ASSERT_TRUE(MakeDirectories(outside_ + "/T0/s/run_01").ok());
  ASSERT_TRUE(WriteFileAtomically(outside_ + "/T0/s/run_01/report.json", "not a record").ok());
  auto records = ReadRunRecords(experiment_, plan);
  ASSERT_TRUE(records.ok()) << records.error().message;
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].score, 0.25);
}

// --junit FILE: its directory is opened before the agents run; a link put
// at its path later does not move the write.
TEST_F(PlantedDirectoryLinkTest, AJunitFileGoesToTheDirectoryHeldFromTheStart) {
  const std::string ci = dir_.path() + "/ci";
  auto held = HoldParentDirectory(ci + "/junit.xml");
  ASSERT_TRUE(held.ok()) << held.error().message;
  SwapForALink(ci, outside_);
  const Plan plan = EchoPlan();
  const jobserver::Status written = WriteJunitXml(*held, plan, PlanResults(plan));
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_THAT(Outside(), ::testing::IsEmpty());
  EXPECT_NE(Read(ci + ".moved/junit.xml").find("<testsuites"), std::string::npos);
}

// Reached through a link of the user's own (results/ on another disk), the
// directory has not moved.
TEST_F(PlantedDirectoryLinkTest, ALinkToTheExperimentDirectoryIsNotAMove) {
  const std::string alias = dir_.path() + "/alias";
  ASSERT_EQ(symlink(experiment_.c_str(), alias.c_str()), 0);
  ScopedConfinement confined(alias);
  EXPECT_EQ(ConfinementMoved(), std::nullopt);
}

TEST_F(PlantedDirectoryLinkTest, WithoutOpenat2TheWalkRefusesLinksAndWaysOut) {
  PlantLink("T0");
  ASSERT_TRUE(MakeDirectories(experiment_ + "/T1/s").ok());
  jobserver::UniqueFd root(open(experiment_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(root);
  const int flags = O_WRONLY | O_CREAT | O_EXCL;
  errno = 0;
  EXPECT_EQ(internal::OpenBeneathByWalk(root.get(), "T0/report.json", flags, 0644), -1);
  EXPECT_TRUE(errno == ELOOP || errno == ENOTDIR) << strerror(errno);
  EXPECT_EQ(internal::OpenBeneathByWalk(root.get(), "T1/../../x", flags, 0644), -1);
  EXPECT_EQ(errno, EXDEV);
  EXPECT_EQ(internal::OpenBeneathByWalk(root.get(), "T0", O_RDONLY, 0), -1);
  EXPECT_EQ(errno, ELOOP);
  jobserver::UniqueFd made(
      internal::OpenBeneathByWalk(root.get(), "T1/s/report.json", flags, 0644));
  EXPECT_TRUE(made) << strerror(errno);
  EXPECT_THAT(Outside(), ::testing::IsEmpty());
}

}  // namespace
}  // namespace tierun
