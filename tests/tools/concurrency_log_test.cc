#include "tests/tools/concurrency_log.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "jobserver/unique_fd.h"
#include "tests/support/scoped_child.h"
#include "tests/support/scoped_temp_dir.h"

namespace tierun::testing {
namespace {

using jobserver::RetryOnEintr;
using jobserver::UniqueFd;

// ---------------------------------------------------------------------------
// VerifyLog on hand-written logs.

struct VerifyCase {
  const char* name;
  const char* log;
  VerifyOptions options;
  int max_concurrency;
  std::size_t runs;
  std::vector<Violation> violations;
};

void PrintTo(const VerifyCase& c, std::ostream* out) { *out << c.name; }

class VerifyLogTest : public ::testing::TestWithParam<VerifyCase> {};

TEST_P(VerifyLogTest, ReportsExactly) {
  const VerifyCase& c = GetParam();
  const VerifyReport report = VerifyLog(c.log, c.options);
  EXPECT_EQ(report.violations, c.violations) << report;
  EXPECT_EQ(report.max_concurrency, c.max_concurrency);
  EXPECT_EQ(report.runs, c.runs);
  EXPECT_EQ(report.ok(), c.violations.empty());
}

const VerifyCase kGoodLogs[] = {
    {"WorkedExampleFromTheHeader",
     "begin a 101 1000\n"
     "begin b 102 1010\n"
     "end a 101 1050\n"
     "begin c 103 1060\n"
     "end b 102 1100\n"
     "end c 103 1110\n",
     {.limit = 2, .expected_ids = {{"a", "b", "c"}}, .expected_count = 3},
     2,
     3,
     {}},
    {"EmptyLog", "", {.limit = 1}, 0, 0, {}},
    {"SerialRunsUnderLimitOne",
     "begin a 1 0\nend a 1 5\nbegin b 2 6\nend b 2 9\n",
     {.limit = 1, .require_limit_reached = true},
     1,
     2,
     {}},
    // Runs hand over at the limit: an end followed by a begin never exceeds it.
    {"InterleavingAtExactlyTheLimit",
     "begin a 1 0\nbegin b 2 1\nbegin c 3 2\n"
     "end b 2 3\nbegin d 4 4\n"
     "end a 1 5\nbegin e 5 6\n"
     "end c 3 7\nend d 4 8\nend e 5 9\n",
     {.limit = 3, .expected_count = 5, .require_limit_reached = true},
     3,
     5,
     {}},
    // File order is the linearisation: c's earlier timestamp must not matter.
    {"TimestampsAreIgnored",
     "begin a 1 100\nend a 1 900\nbegin c 3 50\nend c 3 60\n",
     {.limit = 1},
     1,
     2,
     {}},
    {"BlanksBetweenFields", "begin  a\t1 0\nend a 1  2\n", {.limit = 1}, 1, 1, {}},
};
INSTANTIATE_TEST_SUITE_P(Good, VerifyLogTest, ::testing::ValuesIn(kGoodLogs));

const VerifyCase kConcurrencyViolations[] = {
    {"OneOverTheLimit",
     "begin a 1 0\nbegin b 2 1\nbegin c 3 2\nend a 1 3\nend b 2 4\nend c 3 5\n",
     {.limit = 2},
     3,
     3,
     {{3, "concurrency 3 above limit 2"}}},
    // Reported once, where it went over, with the peak of that stretch.
    {"PeakWithinOneStretch",
     "begin a 1 0\nbegin b 2 1\nbegin c 3 2\nend c 3 3\nend b 2 4\nend a 1 5\n",
     {.limit = 1},
     3,
     3,
     {{2, "concurrency 2 above limit 1, peak 3 at line 3"}}},
    {"TwoSeparateStretches",
     "begin a 1 0\nbegin b 2 1\nend a 1 2\nbegin c 3 3\nend b 2 4\nend c 3 5\n",
     {.limit = 1},
     2,
     3,
     {{2, "concurrency 2 above limit 1"}, {4, "concurrency 2 above limit 1"}}},
    // The same agents in the other file order overlap: order alone decides.
    {"BeginBeforeTheEndItWaitedFor",
     "begin a 1 0\nbegin b 2 5\nend a 1 4\nend b 2 9\n",
     {.limit = 1},
     2,
     2,
     {{2, "concurrency 2 above limit 1"}}},
    {"StillOverAtEndOfLog",
     "begin a 1 0\nbegin b 2 1\n",
     {.limit = 1},
     2,
     2,
     {{1, "run a began but never ended"},
      {2, "concurrency 2 above limit 1"},
      {2, "run b began but never ended"}}},
    {"LimitNeverReached",
     "begin a 1 0\nbegin b 2 1\nbegin c 3 2\nend a 1 3\nend b 2 4\nend c 3 5\n",
     {.limit = 4, .require_limit_reached = true},
     3,
     3,
     {{0, "limit 4 never reached: max 3"}}},
};
INSTANTIATE_TEST_SUITE_P(Concurrency, VerifyLogTest, ::testing::ValuesIn(kConcurrencyViolations));

const VerifyCase kRunViolations[] = {
    {"BeganButNeverEnded",
     "begin a 1 0\nbegin b 2 1\nend a 1 2\n",
     {.limit = 2},
     2,
     2,
     {{2, "run b began but never ended"}}},
    {"EndWithoutBegin",
     "begin a 1 0\nend a 1 1\nend x 9 2\n",
     {.limit = 1},
     1,
     1,
     {{3, "run x ended but never began"}}},
    {"EndedTwice",
     "begin a 1 0\nend a 1 1\nend a 1 2\n",
     {.limit = 1},
     1,
     1,
     {{3, "run a ended again (already ended at line 2)"}}},
    {"EndedByAnotherPid",
     "begin a 1 0\nend a 7 1\n",
     {.limit = 1},
     1,
     1,
     {{2, "run a ended by pid 7 but began with pid 1 at line 1"}}},
    {"DuplicatedRun",
     "begin a 1 0\nend a 1 1\nbegin b 2 2\nend b 2 3\nbegin a 3 4\nend a 3 5\n",
     {.limit = 1},
     1,
     2,
     {{5, "run a began again (first began at line 1)"}}},
    // Two live processes with one ID are two runs' worth of concurrency.
    {"DuplicatedRunWhileRunning",
     "begin a 1 0\nbegin a 2 1\nend a 2 2\nend a 1 3\n",
     {.limit = 1},
     2,
     1,
     {{2, "run a began again (first began at line 1)"}, {2, "concurrency 2 above limit 1"}}},
    {"MissingExpectedIds",
     "begin a 1 0\nend a 1 1\n",
     {.limit = 1, .expected_ids = {{"a", "b", "c"}}},
     1,
     1,
     {{0, "expected run b never began"}, {0, "expected run c never began"}}},
    {"UnexpectedId",
     "begin a 1 0\nend a 1 1\nbegin z 2 2\nend z 2 3\n",
     {.limit = 1, .expected_ids = {{"a"}}},
     1,
     2,
     {{3, "unexpected run z: not in the expected IDs"}}},
    {"WrongCount",
     "begin a 1 0\nend a 1 1\nbegin b 2 2\nend b 2 3\n",
     {.limit = 1, .expected_count = 3},
     1,
     2,
     {{0, "expected 3 runs, saw 2"}}},
    {"WrongCountOnEmptyLog",
     "",
     {.limit = 1, .expected_count = 1},
     0,
     0,
     {{0, "expected 1 runs, saw 0"}}},
    // Whole-log violations come after the ones with a line.
    {"LinesFirstThenWholeLog",
     "begin a 1 0\n",
     {.limit = 2, .expected_count = 2, .require_limit_reached = true},
     1,
     1,
     {{1, "run a began but never ended"},
      {0, "expected 2 runs, saw 1"},
      {0, "limit 2 never reached: max 1"}}},
};
INSTANTIATE_TEST_SUITE_P(Runs, VerifyLogTest, ::testing::ValuesIn(kRunViolations));

// Each malformed line sits after a good one, so line numbers are checked, and
// is left out of the replay.
const VerifyCase kMalformedLines[] = {
    {"TooFewFields",
     "begin a 1 0\nend a 1\n",
     {.limit = 1},
     1,
     1,
     {{1, "run a began but never ended"}, {2, "expected 4 fields \"begin|end ID PID NS\", got 3"}}},
    {"TooManyFields",
     "begin a 1 0\nend a 1 2 3\nend a 1 4\n",
     {.limit = 1},
     1,
     1,
     {{2, "expected 4 fields \"begin|end ID PID NS\", got 5"}}},
    {"UnknownVerb",
     "begin a 1 0\nstart b 2 1\nend a 1 2\n",
     {.limit = 1},
     1,
     1,
     {{2, "unknown verb \"start\": expected begin or end"}}},
    {"VerbIsCaseSensitive",
     "begin a 1 0\nEND a 1 1\nend a 1 2\n",
     {.limit = 1},
     1,
     1,
     {{2, "unknown verb \"END\": expected begin or end"}}},
    {"NonNumericPid",
     "begin a 1 0\nend a 1 1\nbegin b x 2\n",
     {.limit = 1},
     1,
     1,
     {{3, "bad pid \"x\": expected a positive integer"}}},
    {"NegativePid",
     "begin a 1 0\nend a 1 1\nbegin b -2 2\n",
     {.limit = 1},
     1,
     1,
     {{3, "bad pid \"-2\": expected a positive integer"}}},
    {"ZeroPid",
     "begin a 1 0\nend a 1 1\nbegin b 0 2\n",
     {.limit = 1},
     1,
     1,
     {{3, "bad pid \"0\": expected a positive integer"}}},
    {"NonNumericTimestamp",
     "begin a 1 0\nend a 1 12x\nend a 1 13\n",
     {.limit = 1},
     1,
     1,
     {{2, "bad timestamp \"12x\": expected non-negative nanoseconds"}}},
    {"NegativeTimestamp",
     "begin a 1 0\nend a 1 -1\nend a 1 13\n",
     {.limit = 1},
     1,
     1,
     {{2, "bad timestamp \"-1\": expected non-negative nanoseconds"}}},
    {"EmptyLine", "begin a 1 0\n\nend a 1 1\n", {.limit = 1}, 1, 1, {{2, "empty line"}}},
    // A record without its newline was cut short, so it is not replayed.
    {"TornLastRecord",
     "begin a 1 0\nend a 1 1\nbegin b 2",
     {.limit = 1},
     1,
     1,
     {{3, "incomplete last line (no newline): \"begin b 2\""}}},
};
INSTANTIATE_TEST_SUITE_P(Malformed, VerifyLogTest, ::testing::ValuesIn(kMalformedLines));

TEST(VerifyReportTest, PrintsSummaryAndViolations) {
  std::ostringstream out;
  out << VerifyLog("begin a 1 0\nend x 2 1\n", {.limit = 1});
  EXPECT_EQ(out.str(),
            "1 runs, max concurrency 1, 2 violations\n"
            "  line 1: run a began but never ended\n"
            "  line 2: run x ended but never began");
}

// ---------------------------------------------------------------------------
// Helpers for the tests that run the real programs.

using tierun::test::DescribeStatus;
using tierun::test::ScopedChild;
using tierun::test::ScopedTempDir;

std::string MakeFifo(const ScopedTempDir& dir, const std::string& name) {
  const std::string path = dir.Child(name);
  EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0) << path << ": " << strerror(errno);
  return path;
}

std::string WriteFile(const ScopedTempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.Child(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string Wait(ScopedChild& child) { return DescribeStatus(child.Wait()); }

struct ToolRun {
  std::string status;
  std::string out;
  std::string err;
};

// In a forked child: points `fd` at a fresh file.
bool RedirectTo(int fd, const std::string& path) {
  const UniqueFd file(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  return file && ::dup2(file.get(), fd) == fd;
}

// Runs a program to completion. Its output goes to files, read after it has
// exited, so no pipe can fill up with nobody draining it.
ToolRun RunTool(std::vector<std::string> args) {
  const ScopedTempDir dir("tierun-tool-");
  const std::string out_path = dir.Child("stdout");
  const std::string err_path = dir.Child("stderr");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  ScopedChild child = ScopedChild::Fork([&] {
    if (!RedirectTo(STDOUT_FILENO, out_path) || !RedirectTo(STDERR_FILENO, err_path)) return 126;
    ::execv(argv[0], argv.data());
    return 127;
  });
  EXPECT_TRUE(child.started()) << args[0];
  ToolRun run{Wait(child), "", ""};
  const jobserver::Result<std::string> out = ReadTextFile(out_path);
  const jobserver::Result<std::string> err = ReadTextFile(err_path);
  if (out.ok()) run.out = out.value();
  if (err.ok()) run.err = err.value();
  return run;
}

UniqueFd OpenFifoBothWays(const std::string& path) {
  // O_RDWR on a FIFO (Linux, fifo(7)) opens without waiting for a peer and
  // makes this fd count as a writer until it is closed.
  UniqueFd fd(RetryOnEintr([&] { return ::open(path.c_str(), O_RDWR | O_CLOEXEC); }));
  EXPECT_TRUE(fd.valid()) << path << ": " << strerror(errno);
  return fd;
}

// Reads `count` lines. The poll deadline only turns a hung probe into a test
// failure instead of a ctest timeout; a passing run never waits on it.
std::vector<std::string> ReadLines(int fd, std::size_t count) {
  constexpr int kHangMs = 30'000;
  std::string text;
  while (static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) < count) {
    pollfd readable{fd, POLLIN, 0};
    if (RetryOnEintr([&] { return ::poll(&readable, 1, kHangMs); }) <= 0) {
      ADD_FAILURE() << "no line after " << kHangMs << " ms; got so far: " << text;
      break;
    }
    char buffer[256];
    const ssize_t n = RetryOnEintr([&] { return ::read(fd, buffer, sizeof buffer); });
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ---------------------------------------------------------------------------
// The real tierun-probe.

constexpr char kProbe[] = TIERUN_PROBE_PATH;

// Every probe begins before any ends (--notify, then --gate), so the verifier
// must see all of them at once: the limit is reached deterministically.
TEST(ProbeTest, ConcurrentProbesReachTheLimit) {
  constexpr int kProbes = 4;
  ScopedTempDir dir;
  const std::string log = dir.Child("log");
  const std::string notify_path = MakeFifo(dir, "notify");
  const std::string gate_path = MakeFifo(dir, "gate");
  const UniqueFd notify = OpenFifoBothWays(notify_path);
  UniqueFd gate = OpenFifoBothWays(gate_path);
  std::set<std::string> ids;
  std::vector<ScopedChild> probes;
  for (int i = 0; i < kProbes; ++i) {
    const std::string id = "probe-" + std::to_string(i);
    ids.insert(id);
    probes.push_back(ScopedChild::Spawn({kProbe, "--log", log, "--id", id, "--hold-ms", "1",
                                         "--notify", notify_path, "--gate", gate_path}));
  }
  const std::vector<std::string> notified = ReadLines(notify.get(), kProbes);
  EXPECT_EQ(std::set<std::string>(notified.begin(), notified.end()), ids);
  gate.reset();  // Every probe has logged `begin`: let them all finish.
  for (ScopedChild& probe : probes) EXPECT_EQ(Wait(probe), "exited with status 0");

  const std::string text = ReadTextFile(log).value();
  const VerifyReport report = VerifyLog(text, {.limit = kProbes,
                                               .expected_ids = ids,
                                               .expected_count = kProbes,
                                               .require_limit_reached = true});
  EXPECT_TRUE(report.ok()) << report << "\n" << text;
  EXPECT_EQ(report.max_concurrency, kProbes);
  // The same real log must fail a lower limit, at the last `begin`.
  EXPECT_THAT(VerifyLog(text, {.limit = kProbes - 1}).violations,
              ::testing::ElementsAre(Violation{kProbes, "concurrency 4 above limit 3"}));
}

// Many probes contending for the lock still leave only whole records.
TEST(ProbeTest, ContendingProbesWriteWholeRecords) {
  constexpr int kProbes = 16;
  ScopedTempDir dir;
  const std::string log = dir.Child("log");
  std::vector<ScopedChild> probes;
  for (int i = 0; i < kProbes; ++i) {
    probes.push_back(ScopedChild::Spawn(
        {kProbe, "--log", log, "--id", "p" + std::to_string(i), "--hold-ms", "0"}));
  }
  for (ScopedChild& probe : probes) EXPECT_EQ(Wait(probe), "exited with status 0");
  const std::string text = ReadTextFile(log).value();
  const VerifyReport report = VerifyLog(text, {.limit = kProbes, .expected_count = kProbes});
  EXPECT_TRUE(report.ok()) << report << "\n" << text;
}

// One probe: the record format, its own pid, and the requested exit code.
TEST(ProbeTest, LogsBeginAndEndThenExitsWithCode) {
  ScopedTempDir dir;
  const std::string log = dir.Child("log");
  ScopedChild probe =
      ScopedChild::Spawn({kProbe, "--log", log, "--id", "solo", "--hold-ms", "0", "--exit", "7"});
  const pid_t pid = probe.pid();
  EXPECT_EQ(Wait(probe), "exited with status 7");
  const std::string pattern = "solo " + std::to_string(pid) + " [0-9]+";
  EXPECT_THAT(ReadTextFile(log).value(),
              ::testing::MatchesRegex("begin " + pattern + "\nend " + pattern + "\n"));
}

// Synchronised on --notify: by then SIGTERM is ignored. A signal that is
// ignored is discarded when sent, so the SIGKILL after it is what ends the
// probe (signal(7)); the next test shows SIGTERM wins when not ignored.
TEST(ProbeTest, IgnoresSigtermAndHoldsUntilKilled) {
  ScopedTempDir dir;
  const std::string log = dir.Child("log");
  const std::string notify_path = MakeFifo(dir, "notify");
  const UniqueFd notify = OpenFifoBothWays(notify_path);
  ScopedChild probe = ScopedChild::Spawn({kProbe, "--log", log, "--id", "stubborn", "--hold-ms",
                                          "-1", "--ignore-sigterm", "--notify", notify_path});
  EXPECT_THAT(ReadLines(notify.get(), 1), ::testing::ElementsAre("stubborn"));
  ::kill(probe.pid(), SIGTERM);
  ::kill(probe.pid(), SIGKILL);
  EXPECT_EQ(Wait(probe), "killed by signal " + std::to_string(SIGKILL));
  EXPECT_THAT(VerifyLog(ReadTextFile(log).value(), {.limit = 1}).violations,
              ::testing::ElementsAre(Violation{1, "run stubborn began but never ended"}));
}

// Without --ignore-sigterm the same sequence ends the probe by SIGTERM.
TEST(ProbeTest, DiesOfSigtermByDefault) {
  ScopedTempDir dir;
  const std::string notify_path = MakeFifo(dir, "notify");
  const UniqueFd notify = OpenFifoBothWays(notify_path);
  ScopedChild probe = ScopedChild::Spawn({kProbe, "--log", dir.Child("log"), "--id", "meek",
                                          "--hold-ms", "-1", "--notify", notify_path});
  EXPECT_THAT(ReadLines(notify.get(), 1), ::testing::ElementsAre("meek"));
  ::kill(probe.pid(), SIGTERM);
  ::kill(probe.pid(), SIGKILL);
  EXPECT_EQ(Wait(probe), "killed by signal " + std::to_string(SIGTERM));
}

TEST(ProbeTest, UsageErrorsExitTwo) {
  ScopedTempDir dir;
  const std::string log = dir.Child("log");
  const std::vector<std::vector<std::string>> bad_args = {
      {},
      {"--log", log},
      {"--id", "a"},
      {"--log", log, "--id", "two words"},
      {"--log", log, "--id", "a", "--hold-ms", "soon"},
      {"--log", log, "--id", "a", "--hold-ms", "-2"},
      {"--log", log, "--id", "a", "--exit", "256"},
      {"--log", log, "--id", "a", "--frobnicate"},
      {"--log", log, "--id"},
  };
  for (const std::vector<std::string>& args : bad_args) {
    std::vector<std::string> argv = {kProbe};
    argv.insert(argv.end(), args.begin(), args.end());
    const ToolRun run = RunTool(argv);
    EXPECT_EQ(run.status, "exited with status 2") << ::testing::PrintToString(args);
    EXPECT_THAT(run.err, ::testing::HasSubstr("usage: tierun-probe"));
  }
  EXPECT_FALSE(std::filesystem::exists(log)) << "a usage error must not log anything";
}

TEST(ProbeTest, UnusableLogExitsOne) {
  ScopedTempDir dir;
  const std::string log = dir.Child("missing-dir/log");
  const ToolRun run = RunTool({kProbe, "--log", log, "--id", "a", "--hold-ms", "0"});
  EXPECT_EQ(run.status, "exited with status 1");
  EXPECT_EQ(run.err, "tierun-probe: " + log + ": No such file or directory\n");
}

// ---------------------------------------------------------------------------
// The real tierun-verify-log.

constexpr char kVerifyLog[] = TIERUN_VERIFY_LOG_PATH;
constexpr char kVerifyUsage[] =
    "usage: tierun-verify-log FILE --limit N [--expect-count N] [--expect-ids IDS_FILE] "
    "[--expect-reached]\n";

struct CliCase {
  const char* name;
  const char* log;
  std::vector<std::string> args;  // "{log}" and "{ids}" stand for the files.
  std::string status;
  std::string out;
  std::string err;
};

void PrintTo(const CliCase& c, std::ostream* out) { *out << c.name; }

std::string Substitute(std::string text, const std::string& key, const std::string& value) {
  for (std::size_t pos; (pos = text.find(key)) != std::string::npos;) {
    text.replace(pos, key.size(), value);
  }
  return text;
}

// Replaces the "{log}" and "{ids}" placeholders of a CliCase.
std::string Expand(const std::string& text, const std::string& log, const std::string& ids) {
  return Substitute(Substitute(text, "{log}", log), "{ids}", ids);
}

class VerifyLogCliTest : public ::testing::TestWithParam<CliCase> {};

TEST_P(VerifyLogCliTest, ExitsAndPrints) {
  const CliCase& c = GetParam();
  ScopedTempDir dir;
  const std::string log = WriteFile(dir, "log", c.log);
  const std::string ids = WriteFile(dir, "ids", "a\n  b \n\nc\n");
  std::vector<std::string> argv = {kVerifyLog};
  for (const std::string& arg : c.args) argv.push_back(Expand(arg, log, ids));
  const ToolRun run = RunTool(argv);
  EXPECT_EQ(run.status, c.status);
  EXPECT_EQ(run.out, c.out);
  EXPECT_EQ(run.err, Expand(c.err, log, ids));
}

constexpr char kSerialAbc[] =
    "begin a 1 0\nend a 1 1\nbegin b 2 2\nend b 2 3\nbegin c 3 4\nend c 3 5\n";

const CliCase kCliCases[] = {
    {"Ok",
     kSerialAbc,
     {"{log}", "--limit", "1"},
     "exited with status 0",
     "ok: 3 runs, max concurrency 1 (limit 1)\n",
     ""},
    {"OkWithEveryExpectation",
     kSerialAbc,
     {"--expect-reached", "--limit", "1", "{log}", "--expect-count", "3", "--expect-ids", "{ids}"},
     "exited with status 0",
     "ok: 3 runs, max concurrency 1 (limit 1)\n",
     ""},
    {"OverLimit",
     "begin a 1 0\nbegin b 2 1\nend a 1 2\nend b 2 3\n",
     {"{log}", "--limit", "1"},
     "exited with status 1",
     "",
     "{log}:2: concurrency 2 above limit 1\n"},
    {"MissingIdAndNotReached",
     "begin a 1 0\nend a 1 1\nbegin b 2 2\nend b 2 3\n",
     {"{log}", "--limit", "2", "--expect-ids", "{ids}", "--expect-reached"},
     "exited with status 1",
     "",
     "{log}: expected run c never began\n{log}: limit 2 never reached: max 1\n"},
    {"WrongCount",
     kSerialAbc,
     {"{log}", "--limit", "1", "--expect-count", "4"},
     "exited with status 1",
     "",
     "{log}: expected 4 runs, saw 3\n"},
    {"Malformed",
     "begin a 1 0\nbegin\n",
     {"{log}", "--limit", "1"},
     "exited with status 1",
     "",
     "{log}:1: run a began but never ended\n"
     "{log}:2: expected 4 fields \"begin|end ID PID NS\", got 1\n"},
    {"NoArguments",
     "",
     {},
     "exited with status 2",
     "",
     std::string("tierun-verify-log: no log file\n") + kVerifyUsage},
    {"NoLimit",
     "",
     {"{log}"},
     "exited with status 2",
     "",
     std::string("tierun-verify-log: --limit is required\n") + kVerifyUsage},
    {"ZeroLimit",
     "",
     {"{log}", "--limit", "0"},
     "exited with status 2",
     "",
     std::string("tierun-verify-log: bad --limit: 0\n") + kVerifyUsage},
    {"NonNumericLimit",
     "",
     {"{log}", "--limit", "4x"},
     "exited with status 2",
     "",
     std::string("tierun-verify-log: bad --limit: 4x\n") + kVerifyUsage},
    {"BadCount",
     "",
     {"{log}", "--limit", "1", "--expect-count", "-1"},
     "exited with status 2",
     "",
     std::string("tierun-verify-log: bad --expect-count: -1\n") + kVerifyUsage},
    {"LimitWithoutValue",
     "",
     {"{log}", "--limit"},
     "exited with status 2",
     "",
     std::string("tierun-verify-log: unknown or incomplete option: --limit\n") + kVerifyUsage},
    {"UnknownOption",
     "",
     {"{log}", "--limit", "1", "--fast", "yes"},
     "exited with status 2",
     "",
     std::string("tierun-verify-log: unknown option: --fast\n") + kVerifyUsage},
    {"TwoLogs",
     "",
     {"{log}", "{ids}", "--limit", "1"},
     "exited with status 2",
     "",
     std::string("tierun-verify-log: more than one log file: {ids}\n") + kVerifyUsage},
};
INSTANTIATE_TEST_SUITE_P(Cases, VerifyLogCliTest, ::testing::ValuesIn(kCliCases));

TEST(VerifyLogCliTest, UnreadableLogExitsTwoNamingIt) {
  ScopedTempDir dir;
  const std::string log = dir.Child("no-such-log");
  const ToolRun run = RunTool({kVerifyLog, log, "--limit", "1"});
  EXPECT_EQ(run.status, "exited with status 2");
  EXPECT_EQ(run.err, "tierun-verify-log: " + log + ": No such file or directory\n");
}

TEST(VerifyLogCliTest, UnreadableIdsFileExitsTwoNamingIt) {
  ScopedTempDir dir;
  const std::string log = WriteFile(dir, "log", kSerialAbc);
  const std::string ids = dir.Child("no-such-ids");
  const ToolRun run = RunTool({kVerifyLog, log, "--limit", "1", "--expect-ids", ids});
  EXPECT_EQ(run.status, "exited with status 2");
  EXPECT_EQ(run.err, "tierun-verify-log: " + ids + ": No such file or directory\n");
}

TEST(ReadTextFileTest, ErrorNamesThePath) {
  const jobserver::Result<std::string> text = ReadTextFile("/nonexistent/tierun-log");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().message, "/nonexistent/tierun-log: No such file or directory");
}

}  // namespace
}  // namespace tierun::testing
