#include "src/results_dir.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "src/atomic_file.h"
#include "src/reports.h"
#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

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
