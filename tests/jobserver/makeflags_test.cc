#include "jobserver/makeflags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/support/jobserver_printers.h"
#include "tests/support/scoped_env.h"

namespace jobserver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using tierun::test::ScopedEnv;

// ---------------------------------------------------------------------------
// ParseMakeflags: one row per MAKEFLAGS shape (docs/design.md section 2).

struct MakeflagsCase {
  const char* name;
  const char* text;
  std::optional<ErrorKind> error = std::nullopt;
  AuthStyle style = AuthStyle::kNone;
  int read_fd = -1;
  int write_fd = -1;
  const char* fifo_path = "";
  bool disabled = false;
  bool dry_run = false;
  int job_slots = 0;
};

void PrintTo(const MakeflagsCase& c, std::ostream* os) { *os << "MAKEFLAGS=\"" << c.text << "\""; }

constexpr AuthStyle kNone = AuthStyle::kNone;
constexpr AuthStyle kPipe = AuthStyle::kPipe;
constexpr AuthStyle kFifo = AuthStyle::kFifo;

const MakeflagsCase kMakeflagsCases[] = {
    // --- Real-world strings (reference §1.2) ---
    {.name = "Make41FdsWithBareJ",
     .text = " -j --jobserver-fds=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4},
    {.name = "Make43Auth",
     .text = " -j8 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 8},
    {.name = "Make43WithFlagLetters",
     .text = "ks -j8 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 8},
    {.name = "Make44Fifo",
     .text = " -j2 --jobserver-auth=fifo:/tmp/GMfifo1775897",
     .style = kFifo,
     .fifo_path = "/tmp/GMfifo1775897",
     .job_slots = 2},
    {.name = "Make44PipeStyleNonRecursiveChild",
     .text = " -j2 --jobserver-auth=3,4 --jobserver-auth=-2,-2",
     .disabled = true,
     .job_slots = 2},
    {.name = "CargoForm",
     .text = "-j --jobserver-fds=3,4 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4},
    {.name = "CargoFormFifo",
     .text = "-j --jobserver-fds=fifo:/tmp/c --jobserver-auth=fifo:/tmp/c",
     .style = kFifo,
     .fifo_path = "/tmp/c"},
    {.name = "NinjaTestPool",
     .text = " -j4 --jobserver-auth=fifo:/tmp/x",
     .style = kFifo,
     .fifo_path = "/tmp/x",
     .job_slots = 4},
    {.name = "EscapedBlankInFifoPath",
     .text = " -j2 --jobserver-auth=fifo:/tmp/my\\ dir/GMfifo1",
     .style = kFifo,
     .fifo_path = "/tmp/my dir/GMfifo1",
     .job_slots = 2},
    {.name = "EscapedBackslashInFifoPath",
     .text = " -j2 --jobserver-auth=fifo:/tmp/back\\\\slash",
     .style = kFifo,
     .fifo_path = "/tmp/back\\slash",
     .job_slots = 2},
    {.name = "EscapedTabInFifoPath",
     .text = " -j2 --jobserver-auth=fifo:/tmp/a\\\tb",
     .style = kFifo,
     .fifo_path = "/tmp/a\tb",
     .job_slots = 2},
    {.name = "CommaInFifoPath",
     .text = " -j2 --jobserver-auth=fifo:/tmp/a,b",
     .style = kFifo,
     .fifo_path = "/tmp/a,b",
     .job_slots = 2},
    // --- The last --jobserver-auth / --jobserver-fds wins, whatever its name ---
    {.name = "AuthThenFdsFdsWins",
     .text = " -j4 --jobserver-auth=3,4 --jobserver-fds=5,6",
     .style = kPipe,
     .read_fd = 5,
     .write_fd = 6,
     .job_slots = 4},
    {.name = "FdsThenAuthAuthWins",
     .text = " -j4 --jobserver-fds=5,6 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    {.name = "FifoThenFdsFdsWins",
     .text = " -j4 --jobserver-auth=fifo:/tmp/f --jobserver-fds=5,6",
     .style = kPipe,
     .read_fd = 5,
     .write_fd = 6,
     .job_slots = 4},
    {.name = "FdsThenFifoFifoWins",
     .text = " -j4 --jobserver-fds=5,6 --jobserver-auth=fifo:/tmp/f",
     .style = kFifo,
     .fifo_path = "/tmp/f",
     .job_slots = 4},
    {.name = "DisabledThenEnabledIsEnabled",
     .text = " -j2 --jobserver-auth=-2,-2 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 2},
    {.name = "MalformedEarlierAuthIsIgnored",
     .text = " -j2 --jobserver-auth=3,x --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 2},
    {.name = "UnknownLastAuthWins",
     .text = " -j2 --jobserver-auth=3,4 --jobserver-auth=bogus",
     .error = ErrorKind::kUnusable},
    // --- -j without a pool ---
    {.name = "BareJIsUnlimitedWithoutPool", .text = " -j"},
    {.name = "J1HasNoPool", .text = " -j1", .job_slots = 1},
    {.name = "NoJobsAtAll", .text = ""},
    {.name = "OnlyBlanks", .text = " \t "},
    {.name = "JobsWithoutAuth", .text = "ks -j8", .job_slots = 8},
    {.name = "LongJobsOption", .text = " --jobs=6", .job_slots = 6},
    {.name = "LastJWins",
     .text = " -j4 -j6 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 6},
    {.name = "JobserverStyleIsNotJobs",
     .text = " -j4 --jobserver-style=pipe --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    {.name = "LoadAverageIgnored",
     .text = " -j4 -l2.5 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    // --- Dry run: 'n' in the first word only, and only a flag-letter word ---
    {.name = "DryRunFlagLetter",
     .text = "n -j4 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .dry_run = true,
     .job_slots = 4},
    {.name = "DryRunAmongFlagLetters",
     .text = "kns -j4 --jobserver-auth=fifo:/tmp/x",
     .style = kFifo,
     .fifo_path = "/tmp/x",
     .dry_run = true,
     .job_slots = 4},
    {.name = "DryRunWithoutPool", .text = "n", .dry_run = true},
    {.name = "NInLaterWordIsNotDryRun",
     .text = "ks -j4 --jobserver-auth=fifo:/tmp/n n",
     .style = kFifo,
     .fifo_path = "/tmp/n",
     .job_slots = 4},
    {.name = "NoPrintDirectoryAfterBlankIsNotDryRun",
     .text = " --no-print-directory -j4 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    {.name = "NoPrintDirectoryFirstIsNotDryRun",
     .text = "--no-print-directory -j4 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    {.name = "NoPrintDirectoryAfterFlagsIsNotDryRun",
     .text = "ks -j4 --jobserver-auth=3,4 --no-print-directory",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    {.name = "MflagsStyleDryRun",
     .text = "-n -j4 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .dry_run = true,
     .job_slots = 4},
    {.name = "MflagsStyleFlagsWithoutN",
     .text = "-ks -j4 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    // make reads a leading blank as an empty first word: "n" is then no flag.
    {.name = "LettersAfterLeadingBlankAreNotFlags",
     .text = " n -j4 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    {.name = "FirstWordAssignmentIsNotFlags",
     .text = "n=1 -j4 --jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    // --- `--` ends the options ---
    {.name = "WordsAfterDoubleDashIgnored",
     .text = " -j4 --jobserver-auth=3,4 -- --jobserver-auth=7,8 -j9",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    {.name = "AuthOnlyAfterDoubleDash", .text = " -- --jobserver-auth=3,4 -j9"},
    {.name = "VariableOverridesAfterDoubleDash",
     .text = "ks -j4 --jobserver-auth=3,4 -- CC=gcc CFLAGS=-O2\\ -g",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    // --- Blanks ---
    {.name = "TabsSeparateWords",
     .text = "\t-j4\t--jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 4},
    {.name = "TabAfterDryRunFlags",
     .text = "n\t-j4\t--jobserver-auth=3,4",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .dry_run = true,
     .job_slots = 4},
    {.name = "RunsOfBlanks",
     .text = "   -j3    --jobserver-auth=3,4   ",
     .style = kPipe,
     .read_fd = 3,
     .write_fd = 4,
     .job_slots = 3},
    // --- Fds ---
    {.name = "LowFds",
     .text = " -j2 --jobserver-auth=0,1",
     .style = kPipe,
     .read_fd = 0,
     .write_fd = 1,
     .job_slots = 2},
    {.name = "OneNegativeFdDisables",
     .text = " -j2 --jobserver-auth=3,-1",
     .disabled = true,
     .job_slots = 2},
    {.name = "NegativeFdsViaFdsOption", .text = " -j --jobserver-fds=-1,-1", .disabled = true},
    // --- Styles this library cannot use ---
    {.name = "UnknownStyleSemName",
     .text = " -j4 --jobserver-auth=sem_name",
     .error = ErrorKind::kUnusable},
    {.name = "WindowsSemaphoreName",
     .text = " -j4 --jobserver-auth=gmake_semaphore_1234",
     .error = ErrorKind::kUnusable},
    // --- Malformed ---
    {.name = "MalformedWriteFd", .text = " -j4 --jobserver-auth=3,x", .error = ErrorKind::kInvalid},
    {.name = "MalformedReadFd", .text = " -j4 --jobserver-auth=r,4", .error = ErrorKind::kInvalid},
    {.name = "MissingWriteFd", .text = " -j4 --jobserver-auth=3,", .error = ErrorKind::kInvalid},
    {.name = "ThreeFds", .text = " -j4 --jobserver-auth=3,4,5", .error = ErrorKind::kInvalid},
    {.name = "EmptyAuth", .text = " -j4 --jobserver-auth=", .error = ErrorKind::kInvalid},
    {.name = "EmptyFds", .text = " -j --jobserver-fds=", .error = ErrorKind::kInvalid},
    {.name = "EmptyLastAuthAfterValidOne",
     .text = " -j4 --jobserver-auth=3,4 --jobserver-auth=",
     .error = ErrorKind::kInvalid},
    {.name = "FifoWithoutPath",
     .text = " -j4 --jobserver-auth=fifo:",
     .error = ErrorKind::kInvalid},
};

class ParseMakeflagsTest : public ::testing::TestWithParam<MakeflagsCase> {};

// Each MAKEFLAGS shape parses to what GNU make itself would read from it.
TEST_P(ParseMakeflagsTest, ReadsWhatMakeReads) {
  const MakeflagsCase& c = GetParam();
  Result<Auth> parsed = ParseMakeflags(c.text);
  if (c.error) {
    ASSERT_FALSE(parsed.ok()) << "parsed with style " << ::testing::PrintToString(parsed->style);
    EXPECT_EQ(parsed.error().kind, *c.error) << parsed.error().message;
    EXPECT_FALSE(parsed.error().message.empty());
    return;
  }
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->style, c.style);
  EXPECT_EQ(parsed->read_fd, c.read_fd);
  EXPECT_EQ(parsed->write_fd, c.write_fd);
  EXPECT_EQ(parsed->fifo_path, c.fifo_path);
  EXPECT_EQ(parsed->disabled, c.disabled);
  EXPECT_EQ(parsed->dry_run, c.dry_run);
  EXPECT_EQ(parsed->job_slots, c.job_slots);
  EXPECT_EQ(parsed->variable, "");
}

INSTANTIATE_TEST_SUITE_P(Shapes, ParseMakeflagsTest, ::testing::ValuesIn(kMakeflagsCases),
                         [](const ::testing::TestParamInfo<MakeflagsCase>& info) {
                           return std::string(info.param.name);
                         });

// The table keeps covering at least the 40 shapes the test plan asks for.
TEST(ParseMakeflagsTableTest, HasAtLeastFortyShapes) { EXPECT_GE(std::size(kMakeflagsCases), 40u); }

// auth_text keeps the value of the winning auth word, unescaped, for messages.
TEST(ParseMakeflagsTest, AuthTextIsTheWinningValue) {
  Result<Auth> pipe = ParseMakeflags(" -j4 --jobserver-fds=5,6 --jobserver-auth=3,4");
  ASSERT_TRUE(pipe.ok());
  EXPECT_EQ(pipe->auth_text, "3,4");

  Result<Auth> fifo = ParseMakeflags(" -j2 --jobserver-auth=fifo:/tmp/my\\ dir/GMfifo1");
  ASSERT_TRUE(fifo.ok());
  EXPECT_EQ(fifo->auth_text, "fifo:/tmp/my dir/GMfifo1");

  Result<Auth> disabled = ParseMakeflags(" -j2 --jobserver-auth=3,4 --jobserver-auth=-2,-2");
  ASSERT_TRUE(disabled.ok());
  EXPECT_EQ(disabled->auth_text, "-2,-2");
  EXPECT_EQ(disabled->read_fd, -1);
  EXPECT_EQ(disabled->write_fd, -1);
}

// An unusable style is named in the message, so the user sees what was advertised.
TEST(ParseMakeflagsTest, UnusableStyleMessageNamesTheValue) {
  Result<Auth> parsed = ParseMakeflags(" -j4 --jobserver-auth=sem_name");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.error().message, HasSubstr("sem_name"));
}

// A malformed R,W is named in the message too.
TEST(ParseMakeflagsTest, MalformedFdsMessageNamesTheValue) {
  Result<Auth> parsed = ParseMakeflags(" -j4 --jobserver-auth=3,x");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.error().message, HasSubstr("3,x"));
}

// ---------------------------------------------------------------------------
// SplitMakeflags and EscapeForMakeflags.

// Blanks (space, tab, newline) separate words; runs of them make no empty words.
TEST(SplitMakeflagsTest, SplitsOnBlanks) {
  EXPECT_THAT(SplitMakeflags(""), IsEmpty());
  EXPECT_THAT(SplitMakeflags(" \t\n "), IsEmpty());
  EXPECT_THAT(SplitMakeflags(" -j8 --jobserver-auth=3,4"),
              ElementsAre("-j8", "--jobserver-auth=3,4"));
  EXPECT_THAT(SplitMakeflags("ks\t-j8\n  x "), ElementsAre("ks", "-j8", "x"));
}

// A backslash makes the next character literal, blank or backslash alike.
TEST(SplitMakeflagsTest, BackslashEscapesNextCharacter) {
  EXPECT_THAT(SplitMakeflags("fifo:/tmp/my\\ dir/GMfifo1 -j2"),
              ElementsAre("fifo:/tmp/my dir/GMfifo1", "-j2"));
  EXPECT_THAT(SplitMakeflags("a\\\\b"), ElementsAre("a\\b"));
  EXPECT_THAT(SplitMakeflags("a\\\\ b"), ElementsAre("a\\", "b"));
  EXPECT_THAT(SplitMakeflags("a\\\tb"), ElementsAre("a\tb"));
  EXPECT_THAT(SplitMakeflags("\\ "), ElementsAre(" "));
  EXPECT_THAT(SplitMakeflags("\\x"), ElementsAre("x"));
}

// A backslash at the very end has nothing to escape and stays.
TEST(SplitMakeflagsTest, TrailingBackslashIsKept) {
  EXPECT_THAT(SplitMakeflags("a\\"), ElementsAre("a\\"));
}

// Blanks and backslashes are escaped as make's quote_for_env does.
TEST(EscapeForMakeflagsTest, EscapesBlanksAndBackslashes) {
  EXPECT_EQ(EscapeForMakeflags("/tmp/GMfifo1"), "/tmp/GMfifo1");
  EXPECT_EQ(EscapeForMakeflags("/tmp/my dir/GMfifo1"), "/tmp/my\\ dir/GMfifo1");
  EXPECT_EQ(EscapeForMakeflags("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeForMakeflags("a\tb"), "a\\\tb");
}

// Escaping then splitting gives back exactly the original word.
TEST(EscapeForMakeflagsTest, RoundTripsThroughSplit) {
  const std::vector<std::string> words = {
      "plain",      "/tmp/my dir/GMfifo1", "two  blanks", "tab\there", "new\nline", "back\\slash",
      "trailing\\", "\\leading",           " ",           "\\",        "a\\ b",     "x$y",
  };
  for (const std::string& word : words) {
    EXPECT_THAT(SplitMakeflags(EscapeForMakeflags(word)), ElementsAre(word)) << "word: " << word;
  }
  std::string joined;
  for (const std::string& word : words) joined += " " + EscapeForMakeflags(word);
  EXPECT_EQ(SplitMakeflags(joined), words);
}

// A FIFO path escaped into MAKEFLAGS is the path ParseMakeflags reads back.
TEST(EscapeForMakeflagsTest, EscapedFifoPathParsesBack) {
  for (const std::string path : {"/tmp/my dir/GMfifo1", "/tmp/a\\b", "/tmp/t\tx y\\ z/f"}) {
    Result<Auth> parsed = ParseMakeflags(" -j3 --jobserver-auth=fifo:" + EscapeForMakeflags(path));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->style, AuthStyle::kFifo);
    EXPECT_EQ(parsed->fifo_path, path);
    EXPECT_EQ(parsed->job_slots, 3);
  }
}

// ---------------------------------------------------------------------------
// ChooseAuth: which of MAKEFLAGS, CARGO_MAKEFLAGS, MFLAGS a process joins.

MakeflagsEnvironment Env(std::optional<std::string> makeflags,
                         std::optional<std::string> cargo_makeflags,
                         std::optional<std::string> mflags) {
  return MakeflagsEnvironment{std::move(makeflags), std::move(cargo_makeflags), std::move(mflags)};
}

// Nothing set: no pool, no error, no variable.
TEST(MakeflagsChooseAuthTest, NothingSetMeansNoPool) {
  Result<Auth> chosen = ChooseAuth(Env(std::nullopt, std::nullopt, std::nullopt));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(chosen->style, AuthStyle::kNone);
  EXPECT_FALSE(chosen->disabled);
  EXPECT_FALSE(chosen->dry_run);
  EXPECT_EQ(chosen->variable, "");
}

// MAKEFLAGS wins over CARGO_MAKEFLAGS and MFLAGS when all advertise a pool.
TEST(MakeflagsChooseAuthTest, MakeflagsBeatsCargoMakeflags) {
  Result<Auth> chosen =
      ChooseAuth(Env(" -j4 --jobserver-auth=3,4", "-j --jobserver-fds=5,6 --jobserver-auth=5,6",
                     "-j4 --jobserver-auth=7,8"));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(chosen->variable, "MAKEFLAGS");
  EXPECT_EQ(chosen->read_fd, 3);
  EXPECT_EQ(chosen->write_fd, 4);
  EXPECT_EQ(chosen->job_slots, 4);
}

// Without MAKEFLAGS, CARGO_MAKEFLAGS wins over MFLAGS.
TEST(MakeflagsChooseAuthTest, CargoMakeflagsBeatsMflags) {
  Result<Auth> chosen = ChooseAuth(
      Env(std::nullopt, "-j --jobserver-fds=5,6 --jobserver-auth=5,6", "-j4 --jobserver-auth=7,8"));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(chosen->variable, "CARGO_MAKEFLAGS");
  EXPECT_EQ(chosen->read_fd, 5);
  EXPECT_EQ(chosen->write_fd, 6);
}

// MFLAGS is the last resort, and its "-n" first word means dry run.
TEST(MakeflagsChooseAuthTest, MflagsIsTheFallback) {
  Result<Auth> chosen = ChooseAuth(Env(std::nullopt, std::nullopt, "-n -j4 --jobserver-auth=7,8"));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(chosen->variable, "MFLAGS");
  EXPECT_EQ(chosen->style, AuthStyle::kPipe);
  EXPECT_EQ(chosen->read_fd, 7);
  EXPECT_TRUE(chosen->dry_run);
}

// A MAKEFLAGS without a pool (make without -j) falls through to CARGO_MAKEFLAGS.
TEST(MakeflagsChooseAuthTest, MakeflagsWithoutAuthFallsThroughToCargo) {
  Result<Auth> chosen = ChooseAuth(
      Env("ks --no-print-directory", "-j --jobserver-fds=5,6 --jobserver-auth=5,6", std::nullopt));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(chosen->variable, "CARGO_MAKEFLAGS");
  EXPECT_EQ(chosen->style, AuthStyle::kPipe);
  EXPECT_EQ(chosen->read_fd, 5);
  EXPECT_FALSE(chosen->dry_run);
}

// An empty MAKEFLAGS is "no pool there", not an error.
TEST(MakeflagsChooseAuthTest, EmptyMakeflagsFallsThrough) {
  Result<Auth> chosen =
      ChooseAuth(Env("", "-j --jobserver-auth=fifo:/tmp/cargo-pool", std::nullopt));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(chosen->variable, "CARGO_MAKEFLAGS");
  EXPECT_EQ(chosen->fifo_path, "/tmp/cargo-pool");
}

// Under make -n, a cargo-supplied pool is still a dry run: MAKEFLAGS says so.
TEST(MakeflagsChooseAuthTest, DryRunComesFromMakeflagsWhenCargoSuppliesPool) {
  Result<Auth> chosen =
      ChooseAuth(Env("n -j4", "-j --jobserver-fds=5,6 --jobserver-auth=5,6", std::nullopt));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(chosen->variable, "CARGO_MAKEFLAGS");
  EXPECT_TRUE(chosen->dry_run);
}

// MAKEFLAGS without 'n' makes a cargo pool a real run.
TEST(MakeflagsChooseAuthTest, NoDryRunWhenMakeflagsHasNoN) {
  Result<Auth> chosen =
      ChooseAuth(Env("ks -j4", "-j --jobserver-fds=5,6 --jobserver-auth=5,6", std::nullopt));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_FALSE(chosen->dry_run);
}

// Cargo never sets dry run: an 'n' first word in CARGO_MAKEFLAGS is not read as one.
TEST(MakeflagsChooseAuthTest, CargoMakeflagsNeverSaysDryRun) {
  Result<Auth> chosen = ChooseAuth(Env(std::nullopt, "n --jobserver-auth=5,6", std::nullopt));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(chosen->variable, "CARGO_MAKEFLAGS");
  EXPECT_FALSE(chosen->dry_run);
}

// MAKEFLAGS unset: dry run is read from MFLAGS even when CARGO_MAKEFLAGS has the pool.
TEST(MakeflagsChooseAuthTest, DryRunComesFromMflagsWhenMakeflagsUnset) {
  Result<Auth> chosen =
      ChooseAuth(Env(std::nullopt, "-j --jobserver-fds=5,6 --jobserver-auth=5,6", "-n -j4"));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(chosen->variable, "CARGO_MAKEFLAGS");
  EXPECT_TRUE(chosen->dry_run);
}

// A dry run with no pool anywhere is still reported.
TEST(MakeflagsChooseAuthTest, DryRunWithoutAnyPool) {
  Result<Auth> chosen = ChooseAuth(Env("n", std::nullopt, std::nullopt));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(chosen->style, AuthStyle::kNone);
  EXPECT_TRUE(chosen->dry_run);
}

// A disabled pool in MAKEFLAGS (make 4.4, no '+') stops the search: it is the truth.
TEST(MakeflagsChooseAuthTest, DisabledMakeflagsWinsOverCargo) {
  Result<Auth> chosen =
      ChooseAuth(Env(" -j2 --jobserver-auth=3,4 --jobserver-auth=-2,-2",
                     "-j --jobserver-fds=5,6 --jobserver-auth=5,6", std::nullopt));
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  EXPECT_EQ(chosen->variable, "MAKEFLAGS");
  EXPECT_TRUE(chosen->disabled);
  EXPECT_EQ(chosen->style, AuthStyle::kNone);
}

// A broken MAKEFLAGS is reported with the variable's name, not skipped.
TEST(MakeflagsChooseAuthTest, BrokenMakeflagsIsAnErrorNamingTheVariable) {
  Result<Auth> chosen = ChooseAuth(Env(
      " -j4 --jobserver-auth=3,x", "-j --jobserver-fds=5,6 --jobserver-auth=5,6", std::nullopt));
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.error().kind, ErrorKind::kInvalid);
  EXPECT_THAT(chosen.error().message, StartsWith("MAKEFLAGS: "));
}

// An unusable CARGO_MAKEFLAGS style is reported with its name.
TEST(MakeflagsChooseAuthTest, UnusableCargoMakeflagsNamesTheVariable) {
  Result<Auth> chosen = ChooseAuth(Env(" -j4", "-j --jobserver-auth=some_semaphore", std::nullopt));
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.error().kind, ErrorKind::kUnusable);
  EXPECT_THAT(chosen.error().message, StartsWith("CARGO_MAKEFLAGS: "));
}

// FromProcess reads the three variables; an unset one is nullopt, an empty one "".
TEST(MakeflagsChooseAuthTest, FromProcessReadsTheEnvironment) {
  ScopedEnv makeflags("MAKEFLAGS", " -j4 --jobserver-auth=3,4");
  ScopedEnv cargo("CARGO_MAKEFLAGS", "");
  ScopedEnv mflags("MFLAGS", nullptr);
  MakeflagsEnvironment env = MakeflagsEnvironment::FromProcess();
  EXPECT_EQ(env.makeflags, " -j4 --jobserver-auth=3,4");
  EXPECT_EQ(env.cargo_makeflags, "");
  EXPECT_EQ(env.mflags, std::nullopt);
}

}  // namespace
}  // namespace jobserver
