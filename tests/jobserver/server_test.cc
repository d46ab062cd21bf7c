#include "jobserver/server.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "jobserver/client.h"
#include "jobserver/makeflags.h"
#include "jobserver/token.h"
#include "jobserver/unique_fd.h"
#include "tests/jobserver/scoped_closed_standard_fds.h"
#include "tests/support/jobserver_printers.h"
#include "tests/support/scoped_child.h"
#include "tests/support/scoped_env.h"
#include "tests/support/scoped_pipe.h"
#include "tests/support/scoped_temp_dir.h"

namespace jobserver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
using tierun::test::BytesAvailable;
using tierun::test::DescribeStatus;
using tierun::test::EnvChange;
using tierun::test::ScopedChild;
using tierun::test::ScopedClosedStandardFds;
using tierun::test::ScopedEnv;
using tierun::test::ScopedTempDir;
using tierun::test::StatusFlags;
using tierun::test::WriteBytes;

constexpr const char* kChild = TIERUN_JOBSERVER_TEST_CHILD;

ServerOptions Options(ServerStyle style, int slots, const std::string& tmpdir = {}) {
  ServerOptions options;
  options.style = style;
  options.slots = slots;
  options.tmpdir = tmpdir;
  return options;
}

ClientOptions NoImplicitSlot() {
  ClientOptions options;
  options.use_implicit_slot = false;
  return options;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::string DirName(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

/// Takes every token there is now; the pool is "drained" into the vector.
std::vector<Token> TakeAll(Client& client) {
  std::vector<Token> tokens;
  while (true) {
    Token token = client.TryAcquire();
    if (!token.valid()) return tokens;
    tokens.push_back(std::move(token));
  }
}

/// The environment a child of `server` gets, with nothing else jobserver-ish.
std::vector<EnvChange> ChildEnv(std::optional<std::string> makeflags,
                                std::optional<std::string> cargo_makeflags = std::nullopt) {
  return {{"MAKEFLAGS", std::move(makeflags)},
          {"CARGO_MAKEFLAGS", std::move(cargo_makeflags)},
          {"MFLAGS", std::nullopt},
          {"MAKELEVEL", std::nullopt}};
}

void ExpectSameAuth(const Auth& parsed, const Auth& advertised) {
  EXPECT_EQ(parsed.style, advertised.style);
  EXPECT_EQ(parsed.read_fd, advertised.read_fd);
  EXPECT_EQ(parsed.write_fd, advertised.write_fd);
  EXPECT_EQ(parsed.fifo_path, advertised.fifo_path);
  EXPECT_EQ(parsed.auth_text, advertised.auth_text);
  EXPECT_FALSE(parsed.disabled);
  EXPECT_FALSE(parsed.dry_run);
}

// ---------------------------------------------------------------------------
// Pool fds never on stdin, stdout or stderr.

class ServerStandardFdsTest : public ::testing::TestWithParam<ServerStyle> {};

// Created with fds 0-2 closed, the pool takes none of them: children would
// inherit a pool on their stdout (`tierun serve ... >&- 2>&-` handed out
// --jobserver-auth=1,2, and one line printed became 19 tokens).
TEST_P(ServerStandardFdsTest, NeverHandsOutAStandardFd) {
  std::string error;
  std::vector<int> landed;
  std::vector<int> inheritable;
  Auth auth;
  {
    ScopedClosedStandardFds closed;
    Result<Server> server = Server::Create(Options(GetParam(), 3));
    if (server.ok()) {
      auth = server->auth();
      inheritable = server->InheritableFds();
    } else {
      error = server.error().message;
    }
    landed = ScopedClosedStandardFds::OpenOnes();
  }
  ASSERT_EQ(error, "");
  EXPECT_THAT(landed, IsEmpty()) << "a pool fd is a standard fd";
  for (int fd : inheritable) EXPECT_GT(fd, 2);
  if (GetParam() == ServerStyle::kPipe) {
    EXPECT_GT(auth.read_fd, 2);
    EXPECT_GT(auth.write_fd, 2);
  }
}

INSTANTIATE_TEST_SUITE_P(Styles, ServerStandardFdsTest,
                         ::testing::Values(ServerStyle::kPipe, ServerStyle::kFifo),
                         [](const auto& info) { return std::string(ServerStyleName(info.param)); });

// ---------------------------------------------------------------------------
// N slots hold N-1 tokens, in both styles.

class ServerSlotsTest : public ::testing::TestWithParam<std::tuple<ServerStyle, int>> {};

// A pool of N slots holds exactly N-1 '+' tokens; the creator keeps one.
TEST_P(ServerSlotsTest, HoldsSlotsMinusOneTokens) {
  const auto [style, slots] = GetParam();
  ScopedTempDir dir;
  Result<Server> server = Server::Create(Options(style, slots, dir.path()));
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ(server->slots(), slots);
  EXPECT_EQ(server->style(), style);

  Result<Client> client = Client::Join(server->auth(), NoImplicitSlot());
  ASSERT_TRUE(client.ok()) << client.error().message;
  EXPECT_EQ(BytesAvailable(client->readiness_fd()), slots - 1);
  std::vector<Token> tokens = TakeAll(*client);
  EXPECT_EQ(static_cast<int>(tokens.size()), slots - 1);
  for (const Token& token : tokens) EXPECT_EQ(token.byte(), '+');

  tokens.clear();
  Audit audit = server->Shutdown();
  EXPECT_TRUE(audit.clean()) << audit.Describe();
  EXPECT_EQ(audit.expected, slots - 1);
  EXPECT_EQ(audit.returned, slots - 1);
}

INSTANTIATE_TEST_SUITE_P(Sizes, ServerSlotsTest,
                         ::testing::Combine(::testing::Values(ServerStyle::kFifo,
                                                              ServerStyle::kPipe),
                                            ::testing::Values(1, 2, 3, 8, 64, 1000)),
                         [](const auto& info) {
                           return std::string(ServerStyleName(std::get<0>(info.param))) + "_" +
                                  std::to_string(std::get<1>(info.param));
                         });

// The token byte is configurable; the pool is filled with it.
TEST(ServerTest, FillsWithTheConfiguredByte) {
  ServerOptions options = Options(ServerStyle::kPipe, 4);
  options.token_byte = 'x';
  Result<Server> server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ(tierun::test::ReadAvailable(server->auth().read_fd), "xxx");
}

// Fewer than one slot is invalid, in both styles, and leaves nothing behind.
TEST(ServerTest, RejectsFewerThanOneSlot) {
  ScopedTempDir dir;
  for (ServerStyle style : {ServerStyle::kFifo, ServerStyle::kPipe}) {
    for (int slots : {0, -1, -100}) {
      Result<Server> server = Server::Create(Options(style, slots, dir.path()));
      ASSERT_FALSE(server.ok()) << ServerStyleName(style) << " " << slots;
      EXPECT_EQ(server.error().kind, ErrorKind::kInvalid);
      EXPECT_THAT(server.error().message, HasSubstr(std::to_string(slots)));
    }
  }
  EXPECT_THAT(dir.Entries(), IsEmpty());
}

// More tokens than a pipe holds fails with kInvalid instead of hanging (cargo#9739).
TEST(ServerTest, PoolTooLargeForAPipeFailsInsteadOfHanging) {
  Result<Server> server = Server::Create(Options(ServerStyle::kPipe, 1 << 20));
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().kind, ErrorKind::kInvalid);
  EXPECT_THAT(server.error().message, HasSubstr("does not fit"));
}

// The same for a FIFO, and the half-made FIFO and its directory are removed.
TEST(ServerTest, PoolTooLargeForAFifoFailsAndCleansUp) {
  ScopedTempDir dir;
  Result<Server> server = Server::Create(Options(ServerStyle::kFifo, 1 << 20, dir.path()));
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().kind, ErrorKind::kInvalid);
  EXPECT_THAT(dir.Entries(), IsEmpty());
}

// A tmpdir that does not exist: a system error naming it, not a crash.
TEST(ServerTest, MissingTmpdirIsASystemError) {
  ScopedTempDir dir;
  const std::string missing = dir.Child("missing");
  Result<Server> server = Server::Create(Options(ServerStyle::kFifo, 2, missing));
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().kind, ErrorKind::kSystem);
  EXPECT_THAT(server.error().message, HasSubstr(missing));
}

// ---------------------------------------------------------------------------
// FIFO style: where the FIFO lives and when it goes away.

// The FIFO is 0600 in a 0700 directory of its own, under the given tmpdir.
TEST(ServerTest, FifoLivesInPrivateDirectoryUnderTmpdir) {
  ScopedTempDir dir;
  Result<Server> server = Server::Create(Options(ServerStyle::kFifo, 2, dir.path()));
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::string& path = server->auth().fifo_path;
  const std::string private_dir = DirName(path);
  EXPECT_EQ(DirName(private_dir), dir.path());

  struct stat dir_stat;
  ASSERT_EQ(lstat(private_dir.c_str(), &dir_stat), 0);
  EXPECT_TRUE(S_ISDIR(dir_stat.st_mode));
  EXPECT_EQ(dir_stat.st_mode & 07777, 0700u);
  EXPECT_EQ(dir_stat.st_uid, geteuid());

  struct stat fifo_stat;
  ASSERT_EQ(lstat(path.c_str(), &fifo_stat), 0);
  EXPECT_TRUE(S_ISFIFO(fifo_stat.st_mode));
  EXPECT_EQ(fifo_stat.st_mode & 07777, 0600u);
  EXPECT_EQ(server->auth().style, AuthStyle::kFifo);
  EXPECT_EQ(server->auth().auth_text, "fifo:" + path);
}

// Without ServerOptions::tmpdir the FIFO goes under $TMPDIR.
TEST(ServerTest, FifoGoesUnderTmpdirVariableByDefault) {
  ScopedTempDir dir;
  ScopedEnv tmpdir("TMPDIR", dir.path());
  Result<Server> server = Server::Create(Options(ServerStyle::kFifo, 2));
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ(DirName(DirName(server->auth().fifo_path)), dir.path());
}

// Shutdown() removes the FIFO and its directory.
TEST(ServerTest, ShutdownRemovesFifoAndDirectory) {
  ScopedTempDir dir;
  Result<Server> server = Server::Create(Options(ServerStyle::kFifo, 2, dir.path()));
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::string path = server->auth().fifo_path;
  ASSERT_TRUE(PathExists(path));
  server->Shutdown();
  EXPECT_FALSE(PathExists(path));
  EXPECT_FALSE(PathExists(DirName(path)));
  EXPECT_THAT(dir.Entries(), IsEmpty());
}

// The destructor removes the FIFO and its directory.
TEST(ServerTest, DestructorRemovesFifoAndDirectory) {
  ScopedTempDir dir;
  std::string path;
  {
    Result<Server> server = Server::Create(Options(ServerStyle::kFifo, 2, dir.path()));
    ASSERT_TRUE(server.ok()) << server.error().message;
    path = server->auth().fifo_path;
    ASSERT_TRUE(PathExists(path));
  }
  EXPECT_FALSE(PathExists(path));
  EXPECT_THAT(dir.Entries(), IsEmpty());
}

// A moved-from Server removes nothing; the moved-to one removes the FIFO.
TEST(ServerTest, MovedFromServerLeavesTheFifoAlone) {
  ScopedTempDir dir;
  std::optional<Server> kept;
  std::string path;
  {
    Result<Server> created = Server::Create(Options(ServerStyle::kFifo, 3, dir.path()));
    ASSERT_TRUE(created.ok()) << created.error().message;
    path = created->auth().fifo_path;
    kept.emplace(std::move(*created));
  }
  EXPECT_TRUE(PathExists(path));
  EXPECT_EQ(kept->slots(), 3);
  kept.reset();
  EXPECT_FALSE(PathExists(path));
}

/// Runs a child that creates a FIFO server and dies of `signal_number`.
void ExpectFifoRemovedWhenCreatorDiesOf(const char* signal_name, int signal_number) {
  ScopedTempDir dir;
  ScopedChild child = ScopedChild::Spawn({kChild, "serve-and-raise", signal_name, dir.path()});
  ASSERT_TRUE(child.started());
  const std::string path = child.ReadLine();
  ASSERT_THAT(path, StartsWith(dir.path() + "/")) << "child said: " << path;
  const int status = child.Wait();
  ASSERT_TRUE(WIFSIGNALED(status)) << DescribeStatus(status);
  EXPECT_EQ(WTERMSIG(status), signal_number);
  EXPECT_FALSE(PathExists(path));
  EXPECT_FALSE(PathExists(DirName(path)));
  EXPECT_THAT(dir.Entries(), IsEmpty());
}

// A process killed by SIGTERM leaves no FIFO behind, and still dies of SIGTERM.
TEST(ServerTest, FifoRemovedWhenCreatorDiesOfSigterm) {
  ExpectFifoRemovedWhenCreatorDiesOf("TERM", SIGTERM);
}

// The same for SIGINT (Ctrl-C).
TEST(ServerTest, FifoRemovedWhenCreatorDiesOfSigint) {
  ExpectFifoRemovedWhenCreatorDiesOf("INT", SIGINT);
}

// FIFO style has nothing for children to inherit.
TEST(ServerTest, FifoStyleHasNoInheritableFds) {
  ScopedTempDir dir;
  Result<Server> server = Server::Create(Options(ServerStyle::kFifo, 2, dir.path()));
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_THAT(server->InheritableFds(), IsEmpty());
}

// ---------------------------------------------------------------------------
// Pipe style: the fds.

// InheritableFds() are the advertised fds, close-on-exec in the server itself.
TEST(ServerTest, PipeInheritableFdsAreTheAuthFdsAndCloexec) {
  Result<Server> server = Server::Create(Options(ServerStyle::kPipe, 3));
  ASSERT_TRUE(server.ok()) << server.error().message;
  const Auth& auth = server->auth();
  EXPECT_EQ(auth.style, AuthStyle::kPipe);
  EXPECT_THAT(server->InheritableFds(), ElementsAre(auth.read_fd, auth.write_fd));
  for (int fd : server->InheritableFds()) {
    const int flags = fcntl(fd, F_GETFD);
    ASSERT_NE(flags, -1) << "fd " << fd;
    EXPECT_NE(flags & FD_CLOEXEC, 0) << "fd " << fd;
  }
  struct stat st;
  ASSERT_EQ(fstat(auth.read_fd, &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(auth.auth_text, std::to_string(auth.read_fd) + "," + std::to_string(auth.write_fd));
}

// The shared pipe is left blocking, as make <= 4.2 expects (reference §1.8).
TEST(ServerTest, PipeIsLeftBlocking) {
  Result<Server> server = Server::Create(Options(ServerStyle::kPipe, 5));
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ(StatusFlags(server->auth().read_fd) & O_NONBLOCK, 0);
  EXPECT_EQ(StatusFlags(server->auth().write_fd) & O_NONBLOCK, 0);
}

// Shutdown() closes the pipe fds.
TEST(ServerTest, ShutdownClosesPipeFds) {
  Result<Server> server = Server::Create(Options(ServerStyle::kPipe, 2));
  ASSERT_TRUE(server.ok()) << server.error().message;
  const int read_fd = server->auth().read_fd;
  const int write_fd = server->auth().write_fd;
  server->Shutdown();
  EXPECT_EQ(fcntl(read_fd, F_GETFD), -1);
  EXPECT_EQ(fcntl(write_fd, F_GETFD), -1);
}

// ---------------------------------------------------------------------------
// What children are told.

// FIFO style: " -jN --jobserver-auth=fifo:PATH", which parses back to the pool.
TEST(ServerTest, FifoMakeflagsRoundTrips) {
  ScopedTempDir dir;
  Result<Server> server = Server::Create(Options(ServerStyle::kFifo, 4, dir.path()));
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ(server->Makeflags(), " -j4 --jobserver-auth=fifo:" + server->auth().fifo_path);
  Result<Auth> parsed = ParseMakeflags(server->Makeflags());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ExpectSameAuth(*parsed, server->auth());
  EXPECT_EQ(parsed->job_slots, 4);
}

// Pipe style: " -jN --jobserver-auth=R,W", which parses back to the pool.
TEST(ServerTest, PipeMakeflagsRoundTrips) {
  Result<Server> server = Server::Create(Options(ServerStyle::kPipe, 3));
  ASSERT_TRUE(server.ok()) << server.error().message;
  const Auth& auth = server->auth();
  EXPECT_EQ(server->Makeflags(), " -j3 --jobserver-auth=" + std::to_string(auth.read_fd) + "," +
                                     std::to_string(auth.write_fd));
  Result<Auth> parsed = ParseMakeflags(server->Makeflags());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ExpectSameAuth(*parsed, auth);
  EXPECT_EQ(parsed->job_slots, 3);
}

// A tmpdir with blanks: MAKEFLAGS escapes them as make does, and parses back.
TEST(ServerTest, MakeflagsEscapesBlanksInFifoPath) {
  ScopedTempDir dir("tierun test dir ");
  Result<Server> server = Server::Create(Options(ServerStyle::kFifo, 2, dir.path()));
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_THAT(server->Makeflags(), HasSubstr("tierun\\ test\\ dir\\ "));
  Result<Auth> parsed = ParseMakeflags(server->Makeflags());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ExpectSameAuth(*parsed, server->auth());
}

// Pipe style CARGO_MAKEFLAGS is cargo's own form and parses back to the pool.
TEST(ServerTest, PipeCargoMakeflagsRoundTrips) {
  Result<Server> server = Server::Create(Options(ServerStyle::kPipe, 3));
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::string fds = server->auth().auth_text;
  EXPECT_EQ(server->CargoMakeflags(), "-j --jobserver-fds=" + fds + " --jobserver-auth=" + fds);
  Result<Auth> chosen = ChooseAuth({std::nullopt, server->CargoMakeflags(), std::nullopt});
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  ExpectSameAuth(*chosen, server->auth());
  EXPECT_EQ(chosen->variable, "CARGO_MAKEFLAGS");
}

// FIFO style CARGO_MAKEFLAGS names the FIFO and parses back to the pool.
TEST(ServerTest, FifoCargoMakeflagsRoundTrips) {
  ScopedTempDir dir;
  Result<Server> server = Server::Create(Options(ServerStyle::kFifo, 3, dir.path()));
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ(server->CargoMakeflags(), "-j --jobserver-auth=fifo:" + server->auth().fifo_path);
  Result<Auth> chosen = ChooseAuth({std::nullopt, server->CargoMakeflags(), std::nullopt});
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  ExpectSameAuth(*chosen, server->auth());
}

// CARGO_MAKEFLAGS survives blanks in the FIFO path just like MAKEFLAGS.
TEST(ServerTest, CargoMakeflagsEscapesBlanksInFifoPath) {
  ScopedTempDir dir("tierun test dir ");
  Result<Server> server = Server::Create(Options(ServerStyle::kFifo, 2, dir.path()));
  ASSERT_TRUE(server.ok()) << server.error().message;
  Result<Auth> chosen = ChooseAuth({std::nullopt, server->CargoMakeflags(), std::nullopt});
  ASSERT_TRUE(chosen.ok()) << chosen.error().message;
  ExpectSameAuth(*chosen, server->auth());
}

// ChildEnvironment() is MAKEFLAGS and CARGO_MAKEFLAGS, as above.
TEST(ServerTest, ChildEnvironmentHasBothVariables) {
  Result<Server> server = Server::Create(Options(ServerStyle::kPipe, 2));
  ASSERT_TRUE(server.ok()) << server.error().message;
  using Pair = std::pair<std::string, std::string>;
  EXPECT_THAT(server->ChildEnvironment(),
              UnorderedElementsAre(Pair{"MAKEFLAGS", server->Makeflags()},
                                   Pair{"CARGO_MAKEFLAGS", server->CargoMakeflags()}));
}

// ---------------------------------------------------------------------------
// Shutdown's audit.

class ServerAuditTest : public ::testing::TestWithParam<ServerStyle> {
 protected:
  void SetUp() override {
    Result<Server> server = Server::Create(Options(GetParam(), 4, dir_.path()));
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_.emplace(std::move(*server));
  }
  /// Writes one byte into the pool the way a misbehaving client would.
  void WriteOneByteTooMany() { WriteTooMany("+"); }

  void WriteTooMany(const char* bytes) {
    const Auth& auth = server_->auth();
    if (auth.style == AuthStyle::kPipe) {
      ASSERT_TRUE(WriteBytes(auth.write_fd, bytes));
      return;
    }
    UniqueFd fifo(open(auth.fifo_path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    ASSERT_TRUE(fifo.valid());
    ASSERT_TRUE(WriteBytes(fifo.get(), bytes));
  }

  ScopedTempDir dir_;
  std::optional<Server> server_;
};

// Every token back: a clean audit of N-1 returned.
TEST_P(ServerAuditTest, CleanAfterAllTokensReturned) {
  {
    Result<Client> client = Client::Join(server_->auth(), NoImplicitSlot());
    ASSERT_TRUE(client.ok()) << client.error().message;
    std::vector<Token> tokens = TakeAll(*client);
    EXPECT_EQ(tokens.size(), 3u);
  }
  Audit audit = server_->Shutdown();
  EXPECT_TRUE(audit.clean());
  EXPECT_EQ(audit.expected, 3);
  EXPECT_EQ(audit.returned, 3);
  EXPECT_EQ(audit.missing, 0);
  EXPECT_EQ(audit.extra, 0);
  EXPECT_EQ(audit.Describe(), "3 of 3 tokens returned");
}

// A token still held at Shutdown() is reported missing.
TEST_P(ServerAuditTest, MissingWhenATokenIsHeld) {
  Result<Client> client = Client::Join(server_->auth(), NoImplicitSlot());
  ASSERT_TRUE(client.ok()) << client.error().message;
  Token held = client->TryAcquire();
  ASSERT_TRUE(held.valid());
  Audit audit = server_->Shutdown();
  EXPECT_FALSE(audit.clean());
  EXPECT_EQ(audit.returned, 2);
  EXPECT_EQ(audit.missing, 1);
  EXPECT_EQ(audit.extra, 0);
  EXPECT_EQ(audit.Describe(), "2 of 3 tokens returned, 1 missing");
}

// A byte too many in the pool is reported extra.
TEST_P(ServerAuditTest, ExtraWhenAByteTooManyWasWritten) {
  WriteOneByteTooMany();
  Audit audit = server_->Shutdown();
  EXPECT_FALSE(audit.clean());
  EXPECT_EQ(audit.returned, 4);
  EXPECT_EQ(audit.missing, 0);
  EXPECT_EQ(audit.extra, 1);
  EXPECT_EQ(audit.Describe(),
            "4 of 3 tokens returned: the pool held 1 more token than it gave out");
}

// Five forged tokens (an agent writing '+' into its MAKEFLAGS pool) are
// named as such, so nobody mistakes them for a clean pool.
TEST_P(ServerAuditTest, ForgedTokensAreCountedAndNamed) {
  WriteTooMany("+++++");
  Audit audit = server_->Shutdown();
  EXPECT_EQ(audit.extra, 5);
  EXPECT_EQ(audit.Describe(),
            "8 of 3 tokens returned: the pool held 5 more tokens than it gave out");
}

// A second Shutdown() returns the first audit, even if tokens came back since.
TEST_P(ServerAuditTest, ShutdownIsIdempotent) {
  Result<Client> client = Client::Join(server_->auth(), NoImplicitSlot());
  ASSERT_TRUE(client.ok()) << client.error().message;
  Token held = client->TryAcquire();
  ASSERT_TRUE(held.valid());
  const Audit first = server_->Shutdown();
  held.Return();  // Too late: the audit is done.
  const Audit second = server_->Shutdown();
  EXPECT_EQ(second.expected, first.expected);
  EXPECT_EQ(second.returned, first.returned);
  EXPECT_EQ(second.missing, 1);
  EXPECT_EQ(second.extra, first.extra);
}

// A child process killed while holding a token: the audit shows it missing.
TEST_P(ServerAuditTest, MissingWhenAChildDiesHoldingAToken) {
  ScopedChild child = ScopedChild::Spawn({kChild, "hold"}, ChildEnv(server_->Makeflags()),
                                         server_->InheritableFds());
  ASSERT_TRUE(child.started());
  EXPECT_EQ(child.ReadLine(), "holding 2b");
  kill(child.pid(), SIGKILL);
  const int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status)) << DescribeStatus(status);
  Audit audit = server_->Shutdown();
  EXPECT_EQ(audit.missing, 1) << audit.Describe();
}

INSTANTIATE_TEST_SUITE_P(Styles, ServerAuditTest,
                         ::testing::Values(ServerStyle::kFifo, ServerStyle::kPipe),
                         [](const auto& info) { return std::string(ServerStyleName(info.param)); });

// ---------------------------------------------------------------------------
// Children joining through the environment (end to end).

class ServerChildTest : public ::testing::TestWithParam<ServerStyle> {};

// A child started with MAKEFLAGS (and the fds, in pipe style) takes and
// returns tokens.
TEST_P(ServerChildTest, ChildJoinsThroughMakeflags) {
  ScopedTempDir dir;
  Result<Server> server = Server::Create(Options(GetParam(), 3, dir.path()));
  ASSERT_TRUE(server.ok()) << server.error().message;
  ScopedChild child = ScopedChild::Spawn({kChild, "take", "2"}, ChildEnv(server->Makeflags()),
                                         server->InheritableFds());
  ASSERT_TRUE(child.started());
  EXPECT_EQ(child.ReadLine(), "took 2b2b via MAKEFLAGS");
  EXPECT_EQ(child.Wait(), 0) << DescribeStatus(child.Wait());
  Audit audit = server->Shutdown();
  EXPECT_TRUE(audit.clean()) << audit.Describe();
}

// A child that only has CARGO_MAKEFLAGS joins through it.
TEST_P(ServerChildTest, ChildJoinsThroughCargoMakeflags) {
  ScopedTempDir dir;
  Result<Server> server = Server::Create(Options(GetParam(), 2, dir.path()));
  ASSERT_TRUE(server.ok()) << server.error().message;
  ScopedChild child =
      ScopedChild::Spawn({kChild, "take", "1"}, ChildEnv(std::nullopt, server->CargoMakeflags()),
                         server->InheritableFds());
  ASSERT_TRUE(child.started());
  EXPECT_EQ(child.ReadLine(), "took 2b via CARGO_MAKEFLAGS");
  EXPECT_EQ(child.Wait(), 0) << DescribeStatus(child.Wait());
  EXPECT_TRUE(server->Shutdown().clean());
}

INSTANTIATE_TEST_SUITE_P(Styles, ServerChildTest,
                         ::testing::Values(ServerStyle::kFifo, ServerStyle::kPipe),
                         [](const auto& info) { return std::string(ServerStyleName(info.param)); });

// A pipe-style child that did not inherit the fds is told to add '+'.
TEST(ServerTest, ChildWithoutThePipeFdsIsToldToAddPlus) {
  Result<Server> server = Server::Create(Options(ServerStyle::kPipe, 3));
  ASSERT_TRUE(server.ok()) << server.error().message;
  ScopedChild child = ScopedChild::Spawn({kChild, "take", "1"}, ChildEnv(server->Makeflags()));
  ASSERT_TRUE(child.started());
  const std::string line = child.ReadLine();
  EXPECT_THAT(line, StartsWith("error unusable: "));
  EXPECT_THAT(line, HasSubstr("'+'"));
  const int status = child.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << DescribeStatus(status);
  EXPECT_TRUE(server->Shutdown().clean());
}

// GNU make itself joins a pipe pool and passes it on to '+' recipes, which
// join through the MAKEFLAGS make wrote for them.
TEST(ServerTest, RealMakeSharesThePipePool) {
  if (access("/usr/bin/make", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/make";
  ScopedTempDir dir;
  const std::string makefile = dir.Child("Makefile");
  {
    UniqueFd file(open(makefile.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(file.valid());
    ASSERT_TRUE(WriteBytes(file.get(),
                           "all: a b\n"
                           "a b:\n"
                           "\t+@\"$(CHILD)\" take 1\n"));
  }
  Result<Server> server = Server::Create(Options(ServerStyle::kPipe, 3));
  ASSERT_TRUE(server.ok()) << server.error().message;
  ScopedChild make = ScopedChild::Spawn(
      {"/bin/sh", "-c", "exec /usr/bin/make -s -f \"$0\" CHILD=\"$1\" 2>&1", makefile, kChild},
      ChildEnv(server->Makeflags()), server->InheritableFds());
  ASSERT_TRUE(make.started());
  std::vector<std::string> lines;
  for (std::string line = make.ReadLine(); !line.empty(); line = make.ReadLine()) {
    lines.push_back(line);
  }
  EXPECT_THAT(lines, ElementsAre("took 2b via MAKEFLAGS", "took 2b via MAKEFLAGS"));
  EXPECT_EQ(make.Wait(), 0) << DescribeStatus(make.Wait());
  Audit audit = server->Shutdown();
  EXPECT_TRUE(audit.clean()) << audit.Describe();
}

// ---------------------------------------------------------------------------
// Styles.

// "fifo", "pipe", "auto" parse; their names round-trip.
TEST(ServerStyleTest, ParsesTheThreeNames) {
  for (ServerStyle style : {ServerStyle::kFifo, ServerStyle::kPipe, ServerStyle::kAuto}) {
    Result<ServerStyle> parsed = ParseServerStyle(ServerStyleName(style));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(*parsed, style);
  }
  EXPECT_STREQ(ServerStyleName(ServerStyle::kFifo), "fifo");
  EXPECT_STREQ(ServerStyleName(ServerStyle::kPipe), "pipe");
  EXPECT_STREQ(ServerStyleName(ServerStyle::kAuto), "auto");
}

// Anything else is kInvalid, and the message quotes it.
TEST(ServerStyleTest, RejectsOtherNames) {
  for (const char* text : {"", "FIFO", "Pipe", "sem", "pipe ", " fifo", "fifo:"}) {
    Result<ServerStyle> parsed = ParseServerStyle(text);
    ASSERT_FALSE(parsed.ok()) << "'" << text << "'";
    EXPECT_EQ(parsed.error().kind, ErrorKind::kInvalid);
    EXPECT_THAT(parsed.error().message, HasSubstr("'" + std::string(text) + "'"));
  }
}

// Debian 12 ships GNU make 4.3, which cannot read `fifo:`: pipe. (The fake
// makes below pin the rule on any machine; this checks the real one.)
TEST(ServerStyleTest, AutoIsPipeWithTheMakeOnThisMachine) {
  FILE* version = popen("make --version 2>/dev/null", "r");
  ASSERT_NE(version, nullptr);
  char line[128] = {};
  const bool read_line = fgets(line, sizeof line, version) != nullptr;
  pclose(version);
  if (!read_line || std::string_view(line).substr(0, 12) != "GNU Make 4.3") {
    GTEST_SKIP() << "not GNU make 4.3 on PATH: " << line;
  }
  EXPECT_EQ(ResolveAutoStyle(), ServerStyle::kPipe);
}

// No make on PATH at all: nothing holds us back from fifo.
TEST(ServerStyleTest, AutoIsFifoWithoutMakeOnPath) {
  ScopedTempDir empty;
  ScopedEnv path("PATH", empty.path());
  EXPECT_EQ(ResolveAutoStyle(), ServerStyle::kFifo);
}

/// A PATH whose only `make` prints `version_text` and exits with `status`.
class FakeMakeOnPath {
 public:
  FakeMakeOnPath(const std::string& version_text, int status = 0) : path_("PATH", dir_.path()) {
    const std::string script = "#!/bin/sh\nprintf '%s\\n' '" + version_text +
                               "' 'Built for x86_64-pc-linux-gnu'\nexit " + std::to_string(status) +
                               "\n";
    const std::string make = dir_.Child("make");
    UniqueFd file(open(make.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0755));
    ok_ = file.valid() && WriteBytes(file.get(), script);
  }
  bool ok() const { return ok_; }

 private:
  ScopedTempDir dir_;
  ScopedEnv path_;
  bool ok_ = false;
};

struct AutoStyleCase {
  const char* name;
  const char* version_text;
  ServerStyle expected;
};

void PrintTo(const AutoStyleCase& c, std::ostream* os) { *os << '"' << c.version_text << '"'; }

class ServerAutoStyleTest : public ::testing::TestWithParam<AutoStyleCase> {};

// The make version decides: <= 4.3 needs pipe, >= 4.4 (or not GNU make) gets fifo.
TEST_P(ServerAutoStyleTest, FollowsTheMakeVersionOnPath) {
  FakeMakeOnPath make(GetParam().version_text);
  ASSERT_TRUE(make.ok());
  EXPECT_EQ(ResolveAutoStyle(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Versions, ServerAutoStyleTest,
    ::testing::Values(AutoStyleCase{"Make381", "GNU Make 3.81", ServerStyle::kPipe},
                      AutoStyleCase{"Make421", "GNU Make 4.2.1", ServerStyle::kPipe},
                      AutoStyleCase{"Make43", "GNU Make 4.3", ServerStyle::kPipe},
                      AutoStyleCase{"Make44", "GNU Make 4.4", ServerStyle::kFifo},
                      AutoStyleCase{"Make441", "GNU Make 4.4.1", ServerStyle::kFifo},
                      AutoStyleCase{"Make4490", "GNU Make 4.4.90", ServerStyle::kFifo},
                      AutoStyleCase{"Make50", "GNU Make 5.0", ServerStyle::kFifo},
                      AutoStyleCase{"NotGnuMake", "bmake 20220208", ServerStyle::kFifo}),
    [](const auto& info) { return std::string(info.param.name); });

// A Server asked for kAuto reports the style it resolved to, never kAuto.
TEST(ServerStyleTest, AutoServerUsesTheResolvedStyle) {
  ScopedTempDir dir;
  {
    FakeMakeOnPath make("GNU Make 4.3");
    ASSERT_TRUE(make.ok());
    Result<Server> server = Server::Create(Options(ServerStyle::kAuto, 2, dir.path()));
    ASSERT_TRUE(server.ok()) << server.error().message;
    EXPECT_EQ(server->style(), ServerStyle::kPipe);
    EXPECT_EQ(server->auth().style, AuthStyle::kPipe);
  }
  {
    FakeMakeOnPath make("GNU Make 4.4.1");
    ASSERT_TRUE(make.ok());
    Result<Server> server = Server::Create(Options(ServerStyle::kAuto, 2, dir.path()));
    ASSERT_TRUE(server.ok()) << server.error().message;
    EXPECT_EQ(server->style(), ServerStyle::kFifo);
    EXPECT_EQ(server->auth().style, AuthStyle::kFifo);
  }
}

}  // namespace
}  // namespace jobserver
