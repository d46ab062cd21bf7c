#include "src/results_dir.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "src/atomic_file.h"
#include "src/reports.h"
#include "src/run_selection.h"
#include "src/signals_posix.h"
#include "tests/support/plan_builders.h"
#include "tests/support/scoped_child.h"
#include "tests/support/scoped_pipe.h"
#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

using jobserver::ErrorKind;
using test::MakePlan;
using test::MakeTier;
using ::testing::HasSubstr;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

Plan TwoRunPlan(const std::string& results) {
  Plan plan;
  plan.name = "exp";
  plan.results_dir = results;
  Tier tier;
  tier.id = "T0";
  tier.subtests = {"a"};
  tier.runs = 2;
  tier.agent.argv = {"agent"};
  plan.tiers = {tier};
  return plan;
}

class ResultsDirTest : public ::testing::Test {
 protected:
  test::ScopedTempDir temp_;
  Plan plan_ = TwoRunPlan(temp_.path() + "/results");
  std::string dir_ = temp_.path() + "/results/exp";
};

// A new directory gets plan.json; it is not a resume.
TEST_F(ResultsDirTest, CreatesDirectoryWithPlan) {
  auto results = PrepareResultsDirectory(plan_, false);
  ASSERT_TRUE(results.ok()) << results.error().message;
  EXPECT_EQ(results->path, dir_);
  EXPECT_FALSE(results->resumed);
  EXPECT_TRUE(Exists(dir_ + "/plan.json"));
}

// Same plan: resumed; a complete run stays, an incomplete one is moved aside.
TEST_F(ResultsDirTest, ResumeMovesIncompleteRunsAside) {
  { ASSERT_TRUE(PrepareResultsDirectory(plan_, false).ok()); }
  ASSERT_TRUE(WriteFileAtomically(RunDirectory(dir_, "T0", "a", 1) + "/report.json", "{}").ok());
  ASSERT_TRUE(WriteFileAtomically(RunDirectory(dir_, "T0", "a", 2) + "/stdout.log", "half").ok());
  auto results = PrepareResultsDirectory(plan_, false);
  ASSERT_TRUE(results.ok()) << results.error().message;
  EXPECT_TRUE(results->resumed);
  EXPECT_TRUE(RunIsComplete(dir_, "T0", "a", 1));
  EXPECT_FALSE(Exists(RunDirectory(dir_, "T0", "a", 2)));
  EXPECT_TRUE(Exists(RunDirectory(dir_, "T0", "a", 2) + ".incomplete.1/stdout.log"));
  EXPECT_EQ(results->moved_aside.size(), 1u);
}

// In-progress names: ".run_NN." and 16 hex digits, never guessed twice;
// nothing else in a sub-test directory (the run locks above all) reads as one.
TEST(InProgressRunNameTest, ParsesOnlyWhatItMakes) {
  const std::string name = NewInProgressRunName(7);
  EXPECT_THAT(name, ::testing::MatchesRegex("\\.run_07\\.[0-9a-f]{16}"));
  EXPECT_EQ(ParseInProgressRunName(name), 7);
  EXPECT_NE(NewInProgressRunName(7), name);
  EXPECT_EQ(ParseInProgressRunName(".run_100.0123456789abcdef"), 100);
  for (const char* other :
       {".run_01.lock", "run_01", ".run_1.0123456789abcdef", ".run_01.0123456789ABCDEF",
        ".run_01.0123456789abcde", ".run_01.0123456789abcdef0", ".run_00.0123456789abcdef",
        "run_01.incomplete.1", ".run_01.0123456789abcdef.tmp"}) {
    EXPECT_EQ(ParseInProgressRunName(other), std::nullopt) << other;
  }
}

// A run whose report was written in its in-progress directory, the runner
// killed before the rename: the resume finishes the rename, the run is done.
TEST_F(ResultsDirTest, ResumeCommitsARunWhoseRenameWasCutShort) {
  { ASSERT_TRUE(PrepareResultsDirectory(plan_, false).ok()); }
  const std::string in_progress = dir_ + "/T0/a/" + NewInProgressRunName(1);
  ASSERT_TRUE(WriteFileAtomically(in_progress + "/report.json", "{}").ok());
  auto results = PrepareResultsDirectory(plan_, false);
  ASSERT_TRUE(results.ok()) << results.error().message;
  EXPECT_TRUE(RunIsComplete(dir_, "T0", "a", 1));
  EXPECT_FALSE(Exists(in_progress));
  EXPECT_THAT(results->moved_aside, ::testing::IsEmpty());
}

// Any other in-progress directory is incomplete: moved aside as run_NN's.
TEST_F(ResultsDirTest, ResumeMovesAnInProgressRunAside) {
  { ASSERT_TRUE(PrepareResultsDirectory(plan_, false).ok()); }
  const std::string in_progress = dir_ + "/T0/a/" + NewInProgressRunName(2);
  ASSERT_TRUE(WriteFileAtomically(in_progress + "/result.json", "{}").ok());
  auto results = PrepareResultsDirectory(plan_, false);
  ASSERT_TRUE(results.ok()) << results.error().message;
  EXPECT_FALSE(Exists(in_progress));
  EXPECT_FALSE(Exists(RunDirectory(dir_, "T0", "a", 2)));
  EXPECT_TRUE(Exists(RunDirectory(dir_, "T0", "a", 2) + ".incomplete.1/result.json"));
  EXPECT_THAT(results->moved_aside,
              ::testing::ElementsAre(RunDirectory(dir_, "T0", "a", 2) + ".incomplete.1"));
}

// The commit never renames over anything: what is at run_NN already (here
// planted) is moved aside first, and said.
TEST_F(ResultsDirTest, CommitMovesWhatIsAtTheFinalNameAside) {
  const std::string in_progress = dir_ + "/T0/a/" + NewInProgressRunName(1);
  ASSERT_TRUE(WriteFileAtomically(in_progress + "/report.json", "mine").ok());
  ASSERT_TRUE(
      WriteFileAtomically(RunDirectory(dir_, "T0", "a", 1) + "/report.json", "planted").ok());
  std::vector<std::string> moved;
  const jobserver::Status committed = CommitRunDirectory(in_progress, 1, &moved);
  ASSERT_TRUE(committed.ok()) << committed.error().message;
  EXPECT_EQ(*ReadWholeFile(RunDirectory(dir_, "T0", "a", 1) + "/report.json"), "mine");
  EXPECT_EQ(*ReadWholeFile(RunDirectory(dir_, "T0", "a", 1) + ".incomplete.1/report.json"),
            "planted");
  EXPECT_THAT(moved, ::testing::ElementsAre(RunDirectory(dir_, "T0", "a", 1) + ".incomplete.1"));
}

// A changed plan is refused, naming the change and --fresh; nothing moves.
TEST_F(ResultsDirTest, RefusesChangedPlan) {
  { ASSERT_TRUE(PrepareResultsDirectory(plan_, false).ok()); }
  plan_.tiers[0].runs = 3;
  auto results = PrepareResultsDirectory(plan_, false);
  ASSERT_FALSE(results.ok());
  EXPECT_EQ(results.error().kind, jobserver::ErrorKind::kInvalid);
  EXPECT_THAT(results.error().message, HasSubstr("tiers[0].runs: 2 -> 3"));
  EXPECT_THAT(results.error().message, HasSubstr("--fresh"));
}

// --fresh moves the old directory aside whole and starts anew.
TEST_F(ResultsDirTest, FreshMovesOldResultsAside) {
  { ASSERT_TRUE(PrepareResultsDirectory(plan_, false).ok()); }
  ASSERT_TRUE(WriteFileAtomically(RunDirectory(dir_, "T0", "a", 1) + "/report.json", "{}").ok());
  plan_.tiers[0].runs = 3;
  auto results = PrepareResultsDirectory(plan_, true);
  ASSERT_TRUE(results.ok()) << results.error().message;
  EXPECT_FALSE(RunIsComplete(dir_, "T0", "a", 1));
  EXPECT_TRUE(Exists(dir_ + ".old.1/T0/a/run_01/report.json"));
}

// Two runners cannot share one directory.
TEST_F(ResultsDirTest, SecondRunnerIsLockedOut) {
  auto first = PrepareResultsDirectory(plan_, false);
  ASSERT_TRUE(first.ok());
  auto second = PrepareResultsDirectory(plan_, false);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, jobserver::ErrorKind::kUnusable);
}

// A directory tierun did not make is never touched.
TEST_F(ResultsDirTest, RefusesForeignDirectory) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/notes.txt", "mine").ok());
  auto results = PrepareResultsDirectory(plan_, false);
  ASSERT_FALSE(results.ok());
  EXPECT_THAT(results.error().message, HasSubstr("not made by tierun"));
  EXPECT_TRUE(Exists(dir_ + "/notes.txt"));
}

// A runner killed before plan.json was written left only its lock (and maybe
// plan.json's temporary): the directory is taken over, not refused.
TEST_F(ResultsDirTest, AdoptsDirectoryOfARunnerKilledWhileCreatingIt) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/.lock", "").ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/plan.json.tmp.123", "{\"ha").ok());
  auto results = PrepareResultsDirectory(plan_, false);
  ASSERT_TRUE(results.ok()) << results.error().message;
  EXPECT_TRUE(Exists(dir_ + "/plan.json"));
}

// A directory tierun did not make gets no lock file beside it either.
TEST_F(ResultsDirTest, LeavesNoLockBesideForeignDirectory) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/notes.txt", "mine").ok());
  ASSERT_FALSE(PrepareResultsDirectory(plan_, false).ok());
  EXPECT_FALSE(Exists(temp_.path() + "/results/.exp.setup.lock"));
}

/// Two tiers, T0 (sub-tests a, b; 2 runs) and T1 (sub-test x; 1 run), and
/// selections of them as --tiers and --runs would make them.
class ScopedResultsDirTest : public ::testing::Test {
 protected:
  ScopedResultsDirTest() {
    plan_ = MakePlan("exp", {MakeTier("T0", {"a", "b"}, 2), MakeTier("T1", {"x"}, 1)});
    plan_.results_dir = temp_.path() + "/results";
    for (Tier& tier : plan_.tiers) tier.agent.argv = {"agent"};
  }

  RunSelection Tiers(const std::vector<std::string>& tiers) const {
    auto selection = SelectRuns(plan_, tiers, {});
    EXPECT_TRUE(selection.ok()) << selection.error().message;
    return selection.ok() ? *selection : RunSelection{};
  }
  RunSelection Runs(const std::vector<std::string>& runs) const {
    auto selection = SelectRuns(plan_, {}, runs);
    EXPECT_TRUE(selection.ok()) << selection.error().message;
    return selection.ok() ? *selection : RunSelection{};
  }
  jobserver::Result<ResultsDirectory> Prepare(const RunSelection& selection) const {
    return PrepareResultsDirectory(plan_, false, selection);
  }
  /// Leaves a run directory without a report, as a killed runner does.
  void LeaveIncompleteRun(const std::string& tier, const std::string& subtest, int run) const {
    ASSERT_TRUE(
        WriteFileAtomically(RunDirectory(dir_, tier, subtest, run) + "/stdout.log", "half").ok());
  }

  test::ScopedTempDir temp_;
  Plan plan_;
  std::string dir_ = temp_.path() + "/results/exp";
};

// A run of the whole plan keeps every scoped run out, naming the reason.
TEST_F(ScopedResultsDirTest, WholeRunExcludesScopedRuns) {
  auto whole = Prepare(RunSelection{});
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  for (const RunSelection& selection : {Tiers({"T1"}), Runs({"T1/x/1"})}) {
    auto scoped = Prepare(selection);
    ASSERT_FALSE(scoped.ok());
    EXPECT_EQ(scoped.error().kind, ErrorKind::kUnusable);
    EXPECT_THAT(scoped.error().message, HasSubstr("whole experiment is using " + dir_));
  }
}

// A scoped run keeps a run of the whole plan out, naming the reason.
TEST_F(ScopedResultsDirTest, ScopedRunExcludesWholeRun) {
  for (const RunSelection& selection : {Tiers({"T1"}), Runs({"T1/x/1"})}) {
    auto scoped = Prepare(selection);
    ASSERT_TRUE(scoped.ok()) << scoped.error().message;
    auto whole = Prepare(RunSelection{});
    ASSERT_FALSE(whole.ok());
    EXPECT_EQ(whole.error().kind, ErrorKind::kUnusable);
    EXPECT_THAT(whole.error().message, HasSubstr("(--tiers or --runs) is using " + dir_));
  }
}

// Runners of disjoint selections share the directory; all but the first
// resume it.
TEST_F(ScopedResultsDirTest, DisjointScopedRunsCoexist) {
  std::vector<ResultsDirectory> held;
  for (const RunSelection& selection :
       {Tiers({"T1"}), Runs({"T0/a/1"}), Runs({"T0/a/2", "T0/b/1"}), Runs({"T0/b/2"})}) {
    auto results = Prepare(selection);
    ASSERT_TRUE(results.ok()) << results.error().message;
    EXPECT_EQ(results->resumed, !held.empty());
    held.push_back(std::move(*results));
  }
}

struct OverlapCase {
  const char* name;
  std::vector<std::string> first_tiers, first_runs;
  std::vector<std::string> second_tiers, second_runs;
  const char* busy;  ///< What the second runner's error names.
};

// Keeps ctest's test names short: the case's name, not its bytes.
void PrintTo(const OverlapCase& overlap, std::ostream* os) { *os << overlap.name; }

class ScopedOverlapTest : public ScopedResultsDirTest,
                          public ::testing::WithParamInterface<OverlapCase> {};

// Overlapping selections exclude each other, whatever mix of --tiers and
// --runs; the error names what is busy.
TEST_P(ScopedOverlapTest, SecondRunnerIsRefused) {
  const OverlapCase& overlap = GetParam();
  auto first = SelectRuns(plan_, overlap.first_tiers, overlap.first_runs);
  auto second = SelectRuns(plan_, overlap.second_tiers, overlap.second_runs);
  ASSERT_TRUE(first.ok() && second.ok());
  auto holder = Prepare(*first);
  ASSERT_TRUE(holder.ok()) << holder.error().message;
  auto refused = Prepare(*second);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kUnusable);
  EXPECT_THAT(refused.error().message, HasSubstr(overlap.busy));
}

const OverlapCase kOverlapCases[] = {
    {"SameTier", {"T0"}, {}, {"T0", "T1"}, {}, "tier T0 of "},
    {"TierThenItsRun", {"T0"}, {}, {}, {"T0/b/2"}, "tier T0 of "},
    {"RunThenItsTier", {}, {"T0/b/2"}, {"T0"}, {}, "tier T0 of "},
    {"SameRun", {}, {"T0/a/1", "T1/x/1"}, {}, {"T0/b/1", "T1/x/run_01"}, "run T1/x/1 of "},
};

INSTANTIATE_TEST_SUITE_P(Mixes, ScopedOverlapTest, ::testing::ValuesIn(kOverlapCases),
                         [](const auto& info) { return std::string(info.param.name); });

// A scoped run moves aside the incomplete runs of its selection only: the
// others may belong to a runner at work.
TEST_F(ScopedResultsDirTest, ScopedRunMovesAsideOnlyItsOwnIncompleteRuns) {
  { ASSERT_TRUE(Prepare(RunSelection{}).ok()); }
  LeaveIncompleteRun("T0", "a", 1);
  LeaveIncompleteRun("T0", "b", 2);
  LeaveIncompleteRun("T1", "x", 1);
  auto runs = Prepare(Runs({"T0/b/2"}));
  ASSERT_TRUE(runs.ok()) << runs.error().message;
  EXPECT_THAT(runs->moved_aside,
              ::testing::ElementsAre(RunDirectory(dir_, "T0", "b", 2) + ".incomplete.1"));
  auto tiers = Prepare(Tiers({"T1"}));
  ASSERT_TRUE(tiers.ok()) << tiers.error().message;
  EXPECT_THAT(tiers->moved_aside,
              ::testing::ElementsAre(RunDirectory(dir_, "T1", "x", 1) + ".incomplete.1"));
  EXPECT_TRUE(Exists(RunDirectory(dir_, "T0", "a", 1) + "/stdout.log"));
}

// A scoped runner leaves the in-progress directories of other runs alone: a
// concurrent runner's agents are at work in them.
TEST_F(ScopedResultsDirTest, ScopedRunLeavesOtherRunsInProgress) {
  { ASSERT_TRUE(Prepare(RunSelection{}).ok()); }
  const std::string mine = dir_ + "/T0/b/" + NewInProgressRunName(2);
  const std::string theirs = dir_ + "/T0/b/" + NewInProgressRunName(1);
  ASSERT_TRUE(MakeDirectories(mine).ok());
  ASSERT_TRUE(MakeDirectories(theirs).ok());
  auto runs = Prepare(Runs({"T0/b/2"}));
  ASSERT_TRUE(runs.ok()) << runs.error().message;
  EXPECT_THAT(runs->moved_aside,
              ::testing::ElementsAre(RunDirectory(dir_, "T0", "b", 2) + ".incomplete.1"));
  EXPECT_FALSE(Exists(mine));
  EXPECT_TRUE(Exists(theirs));
}

// --fresh would move concurrent runners' results aside: refused when scoped.
TEST_F(ScopedResultsDirTest, ScopedRunRefusesFresh) {
  { ASSERT_TRUE(Prepare(RunSelection{}).ok()); }
  auto fresh = PrepareResultsDirectory(plan_, true, Tiers({"T0"}));
  ASSERT_FALSE(fresh.ok());
  EXPECT_EQ(fresh.error().kind, ErrorKind::kInvalid);
  EXPECT_THAT(fresh.error().message, HasSubstr("cannot be combined with --tiers/--runs"));
  EXPECT_FALSE(Exists(dir_ + ".old.1"));
}

// A plan changed under a scoped run is refused as for a whole one.
TEST_F(ScopedResultsDirTest, ScopedRunRefusesChangedPlan) {
  { ASSERT_TRUE(Prepare(RunSelection{}).ok()); }
  plan_.tiers[1].runs = 3;
  auto changed = Prepare(Tiers({"T1"}));
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.error().kind, ErrorKind::kInvalid);
  EXPECT_THAT(changed.error().message, HasSubstr("tiers[1].runs: 1 -> 3"));
}

// Setup waits for the setup lock: while another holds it, a runner does
// not even create the directory.
TEST_F(ScopedResultsDirTest, SetupWaitsForTheSetupLock) {
  auto update = LockForUpdate(dir_);
  ASSERT_TRUE(update.ok()) << update.error().message;
  const RunSelection tiers = Tiers({"T0"});
  test::ScopedChild child = test::ScopedChild::Fork([&] {
    update->reset();  // The parent's open file description keeps the lock.
    printf("preparing\n");
    fflush(stdout);
    auto results = Prepare(tiers);
    printf("%s\n", results.ok() ? "prepared" : results.error().message.c_str());
    fflush(stdout);
    return 0;
  });
  ASSERT_TRUE(child.started());
  ASSERT_EQ(child.ReadLine(), "preparing");
  ASSERT_TRUE(test::WaitUntilBlocked(child.pid(), child.pid()));
  EXPECT_FALSE(Exists(dir_));
  update->reset();
  EXPECT_EQ(child.ReadLine(), "prepared");
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_TRUE(Exists(dir_ + "/plan.json"));
}

/// In a forked child that blocks the termination signals (as tierun run
/// does), waits for the setup lock of `dir` with them watched: prints
/// "waiting" when the wait begins, then "locked" or "cancelled <signal>".
test::ScopedChild WaitForSetupLockInChild(const std::string& dir, jobserver::UniqueFd& held) {
  return test::ScopedChild::Fork([&] {
    held.reset();  // The parent's open file description keeps the lock.
    auto signals = ScopedSignalFd::BlockTerminationSignals();
    if (!signals) return 1;
    int signal = 0;
    const LockWait wait{&*signals, &signal, [](const std::string&) {
                          printf("waiting\n");
                          fflush(stdout);
                        }};
    auto lock = LockForUpdate(dir, wait);
    if (lock) printf("locked\n");
    if (!lock) printf("%s %d\n", ErrorKindName(lock.error().kind), signal);
    fflush(stdout);
    return 0;
  });
}

// SIGINT to a runner waiting for the setup lock ends the wait at once, the
// lock still held by another: no busy wait, no wait for the holder.
TEST_F(ScopedResultsDirTest, ASignalEndsTheWaitForTheSetupLock) {
  auto update = LockForUpdate(dir_);
  ASSERT_TRUE(update.ok()) << update.error().message;
  test::ScopedChild child = WaitForSetupLockInChild(dir_, *update);
  ASSERT_TRUE(child.started());
  ASSERT_EQ(child.ReadLine(), "waiting");
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(child.pid(), SIGINT), 0);
  EXPECT_EQ(child.ReadLine(), "cancelled 2");
  EXPECT_LT(std::chrono::steady_clock::now() - sent, std::chrono::seconds(1));
  EXPECT_EQ(child.Wait(), 0);
}

// Waiting with the signals watched, the runner gets the lock once its holder
// lets go.
TEST_F(ScopedResultsDirTest, TheWaitForTheSetupLockEndsWhenItIsFree) {
  auto update = LockForUpdate(dir_);
  ASSERT_TRUE(update.ok()) << update.error().message;
  test::ScopedChild child = WaitForSetupLockInChild(dir_, *update);
  ASSERT_TRUE(child.started());
  ASSERT_EQ(child.ReadLine(), "waiting");
  update->reset();
  EXPECT_EQ(child.ReadLine(), "locked");
  EXPECT_EQ(child.Wait(), 0);
}

// A directory another runner is creating (tier directories made, plan.json
// not yet) is judged under the setup lock, not taken for a foreign one.
TEST_F(ScopedResultsDirTest, DirectoryBeingCreatedIsNotForeign) {
  auto update = LockForUpdate(dir_);
  ASSERT_TRUE(update.ok()) << update.error().message;
  ASSERT_TRUE(MakeDirectories(dir_ + "/T0/a").ok());
  const RunSelection tiers = Tiers({"T1"});
  test::ScopedChild child = test::ScopedChild::Fork([&] {
    update->reset();  // The parent's open file description keeps the lock.
    auto results = Prepare(tiers);
    printf("%s\n", !results.ok()      ? results.error().message.c_str()
                   : results->resumed ? "resumed"
                                      : "created");
    fflush(stdout);
    return 0;
  });
  ASSERT_TRUE(child.started());
  ASSERT_TRUE(test::WaitUntilBlocked(child.pid(), child.pid()));
  ASSERT_TRUE(
      WriteFileAtomically(
          dir_ + "/plan.json",
          nlohmann::json{{"hash", PlanHash(plan_)}, {"plan", PlanToJson(plan_)}}.dump() + "\n")
          .ok());
  update->reset();
  EXPECT_EQ(child.ReadLine(), "resumed");
  EXPECT_EQ(child.Wait(), 0);
}

// Five scoped runners let go at one instant on a missing directory all
// succeed and hold their locks together: one creates plan.json, four resume.
TEST(ScopedResultsDirSetupTest, ConcurrentRunnersCreateTheDirectoryOnce) {
  test::ScopedTempDir temp;
  std::vector<Tier> tiers;
  for (const char* id : {"T0", "T1", "T2", "T3", "T4"}) tiers.push_back(MakeTier(id, {"a"}, 2));
  Plan plan = MakePlan("exp", tiers);
  plan.results_dir = temp.path() + "/results";
  test::ScopedPipe start;
  test::ScopedPipe finish;
  std::vector<test::ScopedChild> runners;
  for (const Tier& tier : plan.tiers) {
    auto selection = SelectRuns(plan, {tier.id}, {});
    ASSERT_TRUE(selection.ok());
    runners.push_back(test::ScopedChild::Fork([&, selection = *selection] {
      start.CloseWrite();
      finish.CloseWrite();
      char byte;
      (void)!read(start.read_fd(), &byte, 1);  // End-of-file: go.
      auto results = PrepareResultsDirectory(plan, false, selection);
      printf("%s\n", !results.ok()      ? results.error().message.c_str()
                     : results->resumed ? "resumed"
                                        : "created");
      fflush(stdout);
      (void)!read(finish.read_fd(), &byte, 1);  // Hold the locks until every runner has them.
      return 0;
    }));
    ASSERT_TRUE(runners.back().started());
  }
  start.CloseWrite();
  std::vector<std::string> outcomes;
  for (test::ScopedChild& runner : runners) outcomes.push_back(runner.ReadLine());
  finish.CloseWrite();
  for (test::ScopedChild& runner : runners) EXPECT_EQ(runner.Wait(), 0);
  EXPECT_THAT(outcomes, ::testing::UnorderedElementsAre("created", "resumed", "resumed", "resumed",
                                                        "resumed"));
  auto text = ReadWholeFile(plan.results_dir + "/exp/plan.json");
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find(PlanHash(plan)), std::string::npos);
}

// Atomic writes leave no temporary behind and replace the old content.
TEST(AtomicFileTest, ReplacesContentWithoutLeftovers) {
  test::ScopedTempDir temp;
  const std::string path = temp.path() + "/deep/er/file.json";
  ASSERT_TRUE(WriteFileAtomically(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two").ok());
  auto text = ReadWholeFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "two");
  EXPECT_THAT(temp.Entries(), ::testing::ElementsAre("deep"));
}

// A path through a regular file cannot be written: an error naming it.
TEST(AtomicFileTest, UnwritablePathIsAnError) {
  test::ScopedTempDir temp;
  ASSERT_TRUE(WriteFileAtomically(temp.Child("file"), "x").ok());
  auto written = WriteFileAtomically(temp.Child("file") + "/report.json", "{}");
  ASSERT_FALSE(written.ok());
  EXPECT_THAT(written.error().message, HasSubstr(temp.Child("file")));
}

}  // namespace
}  // namespace tierun
