#include "src/paid_process_posix.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/scoped_child.h"
#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

using Args = std::vector<std::string>;

// ninja's command line, parsed as its getopt_long does: any -j (value or
// not, 0 included), -n, -t TOOL or --version means no pool is joined.
TEST(PaidProcessTest, NinjaArgumentsThatKeepOrDropTheJobserver) {
  const struct {
    Args args;
    bool allows;
  } kCases[] = {
      {{}, true},
      {{"all"}, true},
      {{"-C", "build", "-v", "all"}, true},
      {{"-Cbuild", "-k0", "-l4", "--verbose", "--quiet"}, true},
      {{"-f", "-j8.ninja"}, true},  // -j8.ninja is -f's value
      {{"-d", "stats", "-w", "dupbuild=err"}, true},
      {{"--", "-j8"}, true},  // a target after --
      {{"-j8"}, false},
      {{"-j", "8"}, false},
      {{"-j0"}, false},
      {{"all", "-j4"}, false},  // getopt permutes: options after targets count
      {{"-vj8"}, false},
      {{"-n"}, false},
      {{"-t", "clean"}, false},
      {{"--version"}, false},
      {{"--vers"}, false},
      {{"-h"}, false},
      {{"-x"}, false},  // unknown: ninja prints its usage and builds nothing
  };
  for (const auto& c : kCases) {
    std::string text;
    for (const std::string& word : c.args) text += word + " ";
    EXPECT_EQ(NinjaArgumentsAllowJobserver(c.args), c.allows) << text;
  }
}

// Which clients pay for their children, by the pool style they see and
// their arguments: ctest joins pipe and fifo pools at any -j, ninja only
// fifo pools, without -j and not as a dry run.
TEST(PaidProcessTest, ClientsPayOnlyForPoolsTheyJoin) {
  const std::string kFifo = " -j2 --jobserver-auth=fifo:/tmp/x";
  const std::string kPipe = " -j2 --jobserver-auth=3,4";
  const struct {
    const char* name;
    PayerEvidence evidence;
    bool pays;
  } kCases[] = {
      {"ninja", {{}, kFifo, true}, true},
      {"ninja", {{"-j8"}, kFifo, true}, false},
      {"ninja", {{}, kPipe, true}, false},
      {"ninja", {{}, "n -j2 --jobserver-auth=fifo:/tmp/x", true}, false},
      {"ninja", {{}, kFifo, false}, false},  // the FIFO cannot be opened
      {"ninja", {{}, std::nullopt, true}, false},
      {"ctest", {{"-j8"}, kFifo, true}, true},
      {"ctest", {{"-j"}, kPipe, true}, true},
      {"ctest", {{}, kPipe, true}, true},
      {"ctest", {{}, kPipe, false}, false},  // the fds are closed there
      {"ctest", {{}, " -j2 --jobserver-auth=-2,-2", true}, false},
      {"ctest", {{}, " -j2", true}, false},
      {"cmake", {{}, kFifo, true}, false},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(ClientPaysItsChildren(c.name, c.evidence), c.pays)
        << c.name << " " << c.evidence.makeflags.value_or("(unset)") << " "
        << (c.evidence.args.empty() ? "" : c.evidence.args[0]);
  }
}

constexpr char kHoldScript[] = "echo ready; read line <\"$0\"";

/// A shell that says "ready" once it runs, then waits to open `hold`, a
/// FIFO nobody writes: it stays a shell and starts no child that would
/// outlive it (and hold the test's output open).
test::ScopedChild SpawnShell(const std::string& hold, const std::string& makeflags,
                             const std::vector<int>& inherit = {}) {
  return test::ScopedChild::Spawn({"/bin/sh", "-c", kHoldScript, hold}, {{"MAKEFLAGS", makeflags}},
                                  inherit);
}

// The evidence of a live process: its arguments, its MAKEFLAGS, and whether
// the pool's fds are open in *its* table and its FIFO exists.
TEST(PaidProcessTest, ReadsTheEvidenceOfALiveProcess) {
  test::ScopedTempDir dir;
  const std::string fifo = dir.Child("pool");
  const std::string hold = dir.Child("hold");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(mkfifo(hold.c_str(), 0600), 0);
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  const std::string pipe_flags =
      " -j2 --jobserver-auth=" + std::to_string(fds[0]) + "," + std::to_string(fds[1]);
  const struct {
    std::string makeflags;
    std::vector<int> inherit;
    bool openable;
  } kCases[] = {
      {" -j2 --jobserver-auth=fifo:" + fifo, {}, true},
      {" -j2 --jobserver-auth=fifo:" + dir.Child("gone"), {}, false},
      {pipe_flags, {fds[0], fds[1]}, true},
      {pipe_flags, {}, false},  // close-on-exec: not open in the child
  };
  for (const auto& c : kCases) {
    test::ScopedChild shell = SpawnShell(hold, c.makeflags, c.inherit);
    ASSERT_EQ(shell.ReadLine(), "ready");
    const std::optional<PayerEvidence> evidence = ReadPayerEvidence(shell.pid());
    ASSERT_TRUE(evidence.has_value());
    EXPECT_EQ(evidence->args, (Args{"-c", kHoldScript, hold}));
    EXPECT_EQ(evidence->makeflags, c.makeflags);
    EXPECT_EQ(evidence->pool_openable, c.openable) << c.makeflags;
  }
  close(fds[0]);
  close(fds[1]);
}

// Programs are found as execvp finds them, and their versions compared.
TEST(PaidProcessTest, FindsProgramsAndComparesVersions) {
  EXPECT_EQ(FindProgram("/no/such/dir/make"), "/no/such/dir/make");
  EXPECT_EQ(FindProgram("tierun-no-such-program"), "");
  const std::string make = FindProgram("make");
  ASSERT_FALSE(make.empty());
  EXPECT_EQ(access(make.c_str(), X_OK), 0);
  EXPECT_TRUE(ProgramVersionAtLeast(make, "GNU Make ", 3, 81));
  EXPECT_FALSE(ProgramVersionAtLeast(make, "GNU Make ", 99, 0));
  EXPECT_FALSE(ProgramVersionAtLeast(make, "ctest version ", 3, 0));  // another prefix
  EXPECT_FALSE(ProgramVersionAtLeast("", "", 0, 0));
}

}  // namespace
}  // namespace tierun
