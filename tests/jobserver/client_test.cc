#include "jobserver/client.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "jobserver/makeflags.h"
#include "jobserver/server.h"
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

using ::testing::HasSubstr;
using tierun::test::BytesAvailable;
using tierun::test::ReadAvailable;
using tierun::test::ScopedChild;
using tierun::test::ScopedClosedStandardFds;
using tierun::test::ScopedEnv;
using tierun::test::ScopedPipe;
using tierun::test::ScopedTempDir;
using tierun::test::StatusFlags;
using tierun::test::WaitUntilBlocked;
using tierun::test::WriteBytes;
using namespace std::chrono_literals;

/// The Auth make would advertise for an inherited pipe.
Auth PipeAuth(int read_fd, int write_fd) {
  Auth auth;
  auth.style = AuthStyle::kPipe;
  auth.read_fd = read_fd;
  auth.write_fd = write_fd;
  auth.auth_text = std::to_string(read_fd) + "," + std::to_string(write_fd);
  auth.variable = "MAKEFLAGS";
  return auth;
}

Auth FifoAuth(const std::string& path) {
  Auth auth;
  auth.style = AuthStyle::kFifo;
  auth.fifo_path = path;
  auth.auth_text = "fifo:" + path;
  auth.variable = "MAKEFLAGS";
  return auth;
}

/// Collects the warnings a Client gives.
struct Warnings {
  std::vector<std::string> lines;
  ClientOptions Options(bool use_implicit_slot = true) {
    ClientOptions options;
    options.use_implicit_slot = use_implicit_slot;
    options.warn = [this](const std::string& line) { lines.push_back(line); };
    return options;
  }
};

ClientOptions NoImplicitSlot() {
  ClientOptions options;
  options.use_implicit_slot = false;
  options.warn = [](const std::string&) {};
  return options;
}

/// Joins or fails the test.
Client MustJoin(const Auth& auth, ClientOptions options = {}) {
  Result<Client> joined = Client::Join(auth, std::move(options));
  if (!joined.ok()) {
    // A Client cannot be default-constructed, so there is nothing to return.
    fprintf(stderr, "Client::Join failed: %s\n", joined.error().message.c_str());
    abort();
  }
  return std::move(joined).value();
}

Client::Clock::time_point In(Client::Clock::duration delay) { return Client::Clock::now() + delay; }

// ---------------------------------------------------------------------------
// Slots from a pipe pool.

// The first slot is the implicit one: no byte leaves the pool for it.
TEST(ClientTest, HandsOutImplicitSlotFirst) {
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "++"));
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()));

  Token first = client.TryAcquire();
  ASSERT_TRUE(first.valid());
  EXPECT_TRUE(first.implicit());
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 2);

  Token second = client.TryAcquire();
  ASSERT_TRUE(second.valid());
  EXPECT_FALSE(second.implicit());
  EXPECT_EQ(second.byte(), '+');
  Token third = client.TryAcquire();
  ASSERT_TRUE(third.valid());
  EXPECT_FALSE(third.implicit());
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 0);

  EXPECT_FALSE(client.TryAcquire().valid());
}

// Returning the implicit slot makes it the next slot handed out again.
TEST(ClientTest, ImplicitSlotIsReusableAfterReturn) {
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "+"));
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()));

  Token implicit = client.TryAcquire();
  ASSERT_TRUE(implicit.implicit());
  implicit.Return();
  EXPECT_FALSE(implicit.valid());

  Token again = client.TryAcquire();
  EXPECT_TRUE(again.implicit());
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 1);
}

// With use_implicit_slot=false every slot is a byte from the pool.
TEST(ClientTest, SkipsImplicitSlotWhenTurnedOff) {
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "+"));
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());

  Token token = client.TryAcquire();
  ASSERT_TRUE(token.valid());
  EXPECT_FALSE(token.implicit());
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 0);
  EXPECT_FALSE(client.TryAcquire().valid());
}

// Each token writes back exactly the byte it read, whatever the byte.
TEST(ClientTest, WritesBackExactlyTheByteItRead) {
  const std::string bytes = std::string("xE") + '\0' + '\xff' + "I+";
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), bytes));
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());

  std::vector<Token> tokens;
  std::string read_bytes;
  for (size_t i = 0; i < bytes.size(); ++i) {
    tokens.push_back(client.TryAcquire());
    ASSERT_TRUE(tokens.back().valid()) << "token " << i;
    read_bytes.push_back(static_cast<char>(tokens.back().byte()));
  }
  EXPECT_EQ(read_bytes, bytes);  // A pipe keeps order.
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 0);

  // Return in reverse order, then read the pool back.
  while (!tokens.empty()) tokens.pop_back();
  std::string returned = ReadAvailable(pool.read_fd());
  std::string expected = bytes;
  std::reverse(expected.begin(), expected.end());
  EXPECT_EQ(returned, expected);
}

// The implicit slot is never written to the pool, however often it is returned.
TEST(ClientTest, NeverWritesTheImplicitSlot) {
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "ab"));
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()));
  for (int i = 0; i < 3; ++i) {
    Token implicit = client.TryAcquire();
    ASSERT_TRUE(implicit.implicit());
  }  // Destroyed each time.
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 2);
  EXPECT_EQ(ReadAvailable(pool.read_fd()), "ab");
}

// Tokens stay valid when the Client that handed them out is moved.
TEST(ClientTest, TokensSurviveMovingTheClient) {
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "q"));
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  Token token = client.TryAcquire();
  ASSERT_TRUE(token.valid());

  Client moved = std::move(client);
  token.Return();
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 1);
  Token again = moved.TryAcquire();
  EXPECT_EQ(again.byte(), 'q');
}

// TryAcquire and Token::Return are the noexcept hot paths.
TEST(ClientTest, HotPathsAreNoexcept) {
  static_assert(noexcept(std::declval<Client&>().TryAcquire()));
  static_assert(noexcept(std::declval<Token&>().Return()));
  static_assert(std::is_nothrow_move_constructible_v<Token>);
  static_assert(std::is_nothrow_move_assignable_v<Token>);
  static_assert(!std::is_copy_constructible_v<Token>);
  static_assert(!std::is_copy_assignable_v<Token>);
  SUCCEED();
}

// ---------------------------------------------------------------------------
// Token move semantics.

// A default Token holds nothing, and returning it does nothing.
TEST(TokenTest, DefaultTokenIsInvalid) {
  Token token;
  EXPECT_FALSE(token.valid());
  EXPECT_FALSE(token.implicit());
  token.Return();
  EXPECT_FALSE(token.valid());
}

// A moved-from token returns nothing; the moved-to one returns the byte once.
TEST(TokenTest, MovedFromTokenReturnsNothing) {
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "m"));
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  Token original = client.TryAcquire();
  ASSERT_TRUE(original.valid());

  Token moved(std::move(original));
  EXPECT_FALSE(original.valid());  // NOLINT(bugprone-use-after-move): checked on purpose.
  EXPECT_TRUE(moved.valid());
  EXPECT_EQ(moved.byte(), 'm');

  original.Return();
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 0);
  moved.Return();
  EXPECT_EQ(ReadAvailable(pool.read_fd()), "m");
  moved.Return();
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 0);
}

// Move-assigning over a held token returns the old one first.
TEST(TokenTest, MoveAssignReturnsTheOldToken) {
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "ab"));
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  Token a = client.TryAcquire();
  Token b = client.TryAcquire();
  ASSERT_EQ(a.byte(), 'a');
  ASSERT_EQ(b.byte(), 'b');

  a = std::move(b);
  EXPECT_EQ(ReadAvailable(pool.read_fd()), "a");
  EXPECT_FALSE(b.valid());  // NOLINT(bugprone-use-after-move): checked on purpose.
  EXPECT_EQ(a.byte(), 'b');
  a.Return();
  EXPECT_EQ(ReadAvailable(pool.read_fd()), "b");
}

// Move-assigning the implicit slot over another implicit slot frees the old one.
TEST(TokenTest, MoveAssignOfImplicitSlotFreesIt) {
  ScopedPipe pool;
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()));
  Token implicit = client.TryAcquire();
  ASSERT_TRUE(implicit.implicit());
  Token empty;
  implicit = std::move(empty);  // Returns the implicit slot.
  EXPECT_FALSE(implicit.valid());
  EXPECT_TRUE(client.TryAcquire().implicit());
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 0);
}

// Release() forgets a token: nothing is written back, ever.
TEST(TokenTest, ReleaseForgetsWithoutWriting) {
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "r"));
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  {
    Token token = client.TryAcquire();
    ASSERT_TRUE(token.valid());
    token.Release();
    EXPECT_FALSE(token.valid());
  }
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 0);
}

// ---------------------------------------------------------------------------
// Leaving the inherited pipe alone (reference §1.8).

// Joining and reading an empty pool keep a blocking inherited pipe blocking.
TEST(ClientTest, JoinLeavesBlockingInheritedPipeBlocking) {
  ScopedPipe pool;  // Blocking, as make <= 4.2 hands it out.
  const int read_flags = StatusFlags(pool.read_fd());
  const int write_flags = StatusFlags(pool.write_fd());
  ASSERT_EQ(read_flags & O_NONBLOCK, 0);

  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  EXPECT_EQ(StatusFlags(pool.read_fd()), read_flags);
  EXPECT_EQ(StatusFlags(pool.write_fd()), write_flags);

  // An empty pool: TryAcquire must not block on our blocking description.
  EXPECT_FALSE(client.TryAcquire().valid());
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "+"));
  Token token = client.TryAcquire();
  EXPECT_TRUE(token.valid());
  token.Return();
  EXPECT_EQ(StatusFlags(pool.read_fd()), read_flags);
  EXPECT_EQ(StatusFlags(pool.write_fd()), write_flags);
  EXPECT_EQ(StatusFlags(pool.read_fd()) & O_NONBLOCK, 0);
}

// A non-blocking inherited pipe (make >= 4.3) stays non-blocking.
TEST(ClientTest, JoinLeavesNonBlockingInheritedPipeNonBlocking) {
  ScopedPipe pool(O_CLOEXEC | O_NONBLOCK);
  const int read_flags = StatusFlags(pool.read_fd());
  ASSERT_NE(read_flags & O_NONBLOCK, 0);
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  EXPECT_FALSE(client.TryAcquire().valid());
  EXPECT_EQ(StatusFlags(pool.read_fd()), read_flags);
}

// Joining leaves the inherited fds' FD_CLOEXEC flags as they were.
TEST(ClientTest, JoinLeavesInheritedFdFlagsAlone) {
  ScopedPipe pool(0);  // Inheritable, as make passes them.
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()));
  EXPECT_EQ(fcntl(pool.read_fd(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(fcntl(pool.write_fd(), F_GETFD) & FD_CLOEXEC, 0);
  // The client's own descriptions are private and close on exec.
  EXPECT_NE(client.readiness_fd(), pool.read_fd());
  EXPECT_NE(fcntl(client.readiness_fd(), F_GETFD) & FD_CLOEXEC, 0);
}

// ---------------------------------------------------------------------------
// Empty pool, end of file.

// An empty pool (EAGAIN) gives an invalid token, no warning, and is not "gone".
TEST(ClientTest, EmptyPoolGivesInvalidTokenWithoutError) {
  ScopedPipe pool;
  Warnings warnings;
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), warnings.Options(false));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(client.TryAcquire().valid());
  EXPECT_FALSE(client.pool_gone());
  EXPECT_THAT(warnings.lines, ::testing::IsEmpty());
}

// A read end with no writer left (EOF): the pool is gone, one warning, the
// implicit slot still works.
TEST(ClientTest, EndOfFileMeansPoolGoneAndWarnsOnce) {
  // The inherited read fd's pipe lost every writer; the write fd is another,
  // live pipe -- as when make closed the fds and their numbers were reused.
  ScopedPipe dead;
  ScopedPipe other;
  dead.CloseWrite();
  Warnings warnings;
  Client client = MustJoin(PipeAuth(dead.read_fd(), other.write_fd()), warnings.Options());

  Token implicit = client.TryAcquire();
  ASSERT_TRUE(implicit.implicit());
  EXPECT_FALSE(client.pool_gone());

  EXPECT_FALSE(client.TryAcquire().valid());
  EXPECT_TRUE(client.pool_gone());
  EXPECT_FALSE(client.TryAcquire().valid());
  ASSERT_EQ(warnings.lines.size(), 1u);
  EXPECT_THAT(warnings.lines[0], HasSubstr("end of file"));

  implicit.Return();
  Token again = client.TryAcquire();
  EXPECT_TRUE(again.implicit());
  EXPECT_EQ(warnings.lines.size(), 1u);
}

// A client no parent pays for (tokens only) would have no slot at all once
// the pool is gone: with one_slot_when_gone it goes on one job at a time.
TEST(ClientTest, OneSlotWhenGoneLeavesATokensOnlyClientOneSlot) {
  for (const bool one_slot : {false, true}) {
    ScopedPipe dead;
    ScopedPipe other;
    dead.CloseWrite();
    Warnings warnings;
    ClientOptions options = warnings.Options(/*use_implicit_slot=*/false);
    options.one_slot_when_gone = one_slot;
    Client client = MustJoin(PipeAuth(dead.read_fd(), other.write_fd()), options);
    Token first = client.TryAcquire();
    EXPECT_TRUE(client.pool_gone());
    EXPECT_EQ(first.valid(), one_slot);
    EXPECT_FALSE(client.TryAcquire().valid()) << "a second slot";
    first = Token();
    EXPECT_EQ(client.TryAcquire().valid(), one_slot) << "the slot did not come back";
    ASSERT_EQ(warnings.lines.size(), 1u);
    EXPECT_THAT(warnings.lines[0],
                HasSubstr(one_slot ? "one job at a time" : "implicit slot only"));
  }
}

// Once the pool is gone and the implicit slot is taken, Acquire says kPoolGone.
TEST(ClientTest, AcquireReportsPoolGone) {
  ScopedPipe dead;
  ScopedPipe other;
  dead.CloseWrite();
  Warnings warnings;
  Client client = MustJoin(PipeAuth(dead.read_fd(), other.write_fd()), warnings.Options());
  Result<Token> implicit = client.Acquire(In(10s));
  ASSERT_TRUE(implicit.ok()) << implicit.error().message;
  EXPECT_TRUE(implicit->implicit());

  Result<Token> next = client.Acquire(In(10s));
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().kind, ErrorKind::kPoolGone);
  EXPECT_EQ(warnings.lines.size(), 1u);
}

// A known jobserver device at end of file (here /dev/null, listed as one) is
// a gone pool.
TEST(ClientTest, KnownDeviceAtEndOfFileIsGone) {
  Warnings warnings;
  ClientOptions options = warnings.Options(false);
  options.jobserver_devices = {"/dev/null"};
  Client client = MustJoin(FifoAuth("/dev/null"), options);
  EXPECT_FALSE(client.TryAcquire().valid());
  EXPECT_TRUE(client.pool_gone());
  EXPECT_EQ(warnings.lines.size(), 1u);
}

// ---------------------------------------------------------------------------
// Pools that cannot be joined.

// Closed fds (the parent did not pass them: no '+') are unusable, and the
// message says to add '+'.
TEST(ClientTest, ClosedFdsAreUnusableAndAskForPlus) {
  int read_fd;
  int write_fd;
  {
    ScopedPipe closed;
    read_fd = closed.read_fd();
    write_fd = closed.write_fd();
  }
  ASSERT_EQ(fcntl(read_fd, F_GETFD), -1);
  Result<Client> joined = Client::Join(PipeAuth(read_fd, write_fd));
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.error().kind, ErrorKind::kUnusable);
  EXPECT_THAT(joined.error().message, HasSubstr("'+'"));
  EXPECT_THAT(joined.error().message, HasSubstr(std::to_string(read_fd)));
}

// Only the write fd closed is just as unusable.
TEST(ClientTest, ClosedWriteFdIsUnusable) {
  ScopedPipe pool;
  int write_fd;
  {
    ScopedPipe closed;
    write_fd = closed.write_fd();
  }
  Result<Client> joined = Client::Join(PipeAuth(pool.read_fd(), write_fd));
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.error().kind, ErrorKind::kUnusable);
  EXPECT_THAT(joined.error().message, HasSubstr("'+'"));
}

// An fd number reused for a regular file is not a pool: never read from it.
TEST(ClientTest, RegularFileFdIsUnusable) {
  ScopedTempDir dir;
  const std::string path = dir.Child("not-a-pipe");
  UniqueFd file(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(file.valid());
  ASSERT_TRUE(WriteBytes(file.get(), "++++"));
  ASSERT_EQ(lseek(file.get(), 0, SEEK_SET), 0);

  Result<Client> joined = Client::Join(PipeAuth(file.get(), file.get()));
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.error().kind, ErrorKind::kUnusable);
  EXPECT_THAT(joined.error().message, HasSubstr("not a pipe"));
  EXPECT_EQ(lseek(file.get(), 0, SEEK_CUR), 0);  // Nothing was read.
}

// Fds 0-2 in MAKEFLAGS are stdin, stdout and stderr, not a pool: whatever
// prints a line would add tokens (a creator that ran with them closed).
TEST(ClientTest, StandardFdsInMakeflagsAreUnusable) {
  for (const auto& [read_fd, write_fd, name] :
       {std::tuple{1, 2, "standard output"}, std::tuple{0, 9, "standard input"}}) {
    ScopedPipe pool;
    Result<Client> joined = Client::Join(PipeAuth(read_fd, write_fd), NoImplicitSlot());
    ASSERT_FALSE(joined.ok());
    EXPECT_EQ(joined.error().kind, ErrorKind::kUnusable);
    EXPECT_THAT(joined.error().message, HasSubstr(std::string(name) + ", not a jobserver pool"));
  }
}

// Joined with fds 0-2 closed, the client's own descriptions of the pool go
// above them: a write end on fd 2 would take every warning as tokens.
TEST(ClientTest, JoinedPoolFdsAreNeverStandardFds) {
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "+"));
  ServerOptions fifo;
  fifo.style = ServerStyle::kFifo;
  Result<Server> server = Server::Create(fifo);
  ASSERT_TRUE(server.ok()) << server.error().message;
  std::vector<std::string> errors;
  std::vector<int> landed;
  {
    ScopedClosedStandardFds closed;
    std::vector<Client> clients;  // Alive while the standard fds are looked at.
    for (const Auth& auth : {PipeAuth(pool.read_fd(), pool.write_fd()), server->auth()}) {
      Result<Client> joined = Client::Join(auth, NoImplicitSlot());
      if (!joined.ok()) {
        errors.push_back(joined.error().message);
        continue;
      }
      clients.push_back(std::move(*joined));
      Token token = clients.back().TryAcquire();
      if (!token.valid()) errors.push_back("no token from " + auth.auth_text);
      token = Token();  // Given back: the FIFO's write end is opened now.
    }
    landed = ScopedClosedStandardFds::OpenOnes();
  }
  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_THAT(landed, ::testing::IsEmpty()) << "a pool fd is a standard fd";
  EXPECT_EQ(BytesAvailable(pool.read_fd()), 1);
}

// ---------------------------------------------------------------------------
// Character devices: only known jobserver devices are pools.

/// A pseudo-terminal pair: the master is the keyboard and the screen.
class ScopedPty {
 public:
  ScopedPty() {
    master_.reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master_ || grantpt(master_.get()) != 0 || unlockpt(master_.get()) != 0) return;
    path_ = ptsname(master_.get());
    terminal_.reset(open(path_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
    struct termios modes;
    if (terminal_ && tcgetattr(terminal_.get(), &modes) == 0) {
      modes.c_lflag &= ~static_cast<tcflag_t>(ECHO);  // The screen shows what is written only.
      tcsetattr(terminal_.get(), TCSANOW, &modes);
    }
  }
  bool ok() const { return terminal_.valid(); }
  int master() const { return master_.get(); }
  int terminal() const { return terminal_.get(); }
  const std::string& path() const { return path_; }

 private:
  UniqueFd master_;
  UniqueFd terminal_;
  std::string path_;
};

// Fds on a terminal are not a pool: the client must not wait for a keystroke
// and take it as a token. A line typed before the join stays unread.
TEST(ClientTest, TerminalFdIsUnusableAndNothingIsRead) {
  ScopedPty pty;
  ASSERT_TRUE(pty.ok());
  // Typed: a line is waiting, once the terminal has passed it on.
  ASSERT_TRUE(WriteBytes(pty.master(), "k\n"));
  struct pollfd typed = {pty.terminal(), POLLIN, 0};
  ASSERT_EQ(poll(&typed, 1, 10000), 1);
  Result<Client> joined = Client::Join(PipeAuth(pty.terminal(), pty.terminal()), NoImplicitSlot());
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.error().kind, ErrorKind::kUnusable);
  EXPECT_THAT(joined.error().message, HasSubstr("is a terminal (" + pty.path() + ")"));
  EXPECT_THAT(joined.error().message, HasSubstr("not a jobserver pool"));
  EXPECT_EQ(ReadAvailable(pty.terminal()), "k\n");
  EXPECT_EQ(BytesAvailable(pty.master()), 0) << "something was written to the screen";
}

// Character devices that are not jobserver devices are refused, as inherited
// fds and as `fifo:` paths: /dev/zero would give endless tokens, /dev/null
// none, a terminal a keystroke.
TEST(ClientTest, UnknownCharacterDevicesAreUnusable) {
  ScopedPty pty;
  ASSERT_TRUE(pty.ok());
  for (const std::string& path : {std::string("/dev/null"), std::string("/dev/zero"),
                                  std::string("/dev/urandom"), pty.path()}) {
    SCOPED_TRACE(path);
    Result<Client> by_path = Client::Join(FifoAuth(path), NoImplicitSlot());
    ASSERT_FALSE(by_path.ok());
    EXPECT_EQ(by_path.error().kind, ErrorKind::kUnusable);
    EXPECT_THAT(by_path.error().message,
                HasSubstr("jobserver path " + path + " is a character device"));
    EXPECT_THAT(by_path.error().message, HasSubstr("TIERUN_JOBSERVER_DEVICES"));

    UniqueFd fd(open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    Result<Client> by_fd = Client::Join(PipeAuth(fd.get(), fd.get()), NoImplicitSlot());
    ASSERT_FALSE(by_fd.ok());
    EXPECT_EQ(by_fd.error().kind, ErrorKind::kUnusable);
    EXPECT_THAT(by_fd.error().message, HasSubstr(path));
    EXPECT_THAT(by_fd.error().message, HasSubstr("not a jobserver pool"));
  }
}

// A device the options list is a pool (as Gentoo's steve at /dev/steve is):
// /dev/zero listed gives a token of byte 0.
TEST(ClientTest, ListedDeviceIsAPool) {
  ClientOptions options = NoImplicitSlot();
  options.jobserver_devices = {"/dev/does-not-exist", "/dev/zero"};
  for (const bool by_path : {true, false}) {
    UniqueFd fd(open("/dev/zero", O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    Result<Client> joined =
        Client::Join(by_path ? FifoAuth("/dev/zero") : PipeAuth(fd.get(), fd.get()), options);
    ASSERT_TRUE(joined.ok()) << joined.error().message;
    Token token = joined->TryAcquire();
    ASSERT_TRUE(token.valid());
    EXPECT_EQ(token.byte(), 0);
  }
}

// /dev/steve always; more from TIERUN_JOBSERVER_DEVICES, ':'-separated.
TEST(ClientTest, KnownJobserverDevicesComeFromTheEnvironment) {
  using Devices = std::vector<std::string>;
  const std::vector<std::pair<const char*, Devices>> cases = {
      {nullptr, {"/dev/steve"}},
      {"", {"/dev/steve"}},
      {"/dev/a", {"/dev/steve", "/dev/a"}},
      {"/dev/a:/dev/b", {"/dev/steve", "/dev/a", "/dev/b"}},
      {"::/dev/a::", {"/dev/steve", "/dev/a"}},
  };
  for (const auto& [value, expected] : cases) {
    ScopedEnv env("TIERUN_JOBSERVER_DEVICES", value);
    EXPECT_EQ(KnownJobserverDevices(), expected) << (value ? value : "(unset)");
    EXPECT_EQ(ClientOptions().jobserver_devices, expected);
  }
}

// A FIFO path that does not exist is unusable, and the message names it.
TEST(ClientTest, MissingFifoIsUnusableAndNamesThePath) {
  ScopedTempDir dir;
  const std::string path = dir.Child("GMfifo-gone");
  Result<Client> joined = Client::Join(FifoAuth(path));
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.error().kind, ErrorKind::kUnusable);
  EXPECT_THAT(joined.error().message, HasSubstr(path));
}

// A regular file at the FIFO path is unusable.
TEST(ClientTest, RegularFileAtFifoPathIsUnusable) {
  ScopedTempDir dir;
  const std::string path = dir.Child("plain-file");
  UniqueFd file(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(file.valid());
  Result<Client> joined = Client::Join(FifoAuth(path));
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.error().kind, ErrorKind::kUnusable);
  EXPECT_THAT(joined.error().message, HasSubstr(path));
}

/// A FIFO pool as a server makes one: the FIFO, the server's own end
/// (read-write, so the FIFO never reads as end of file while it is open),
/// and `tokens` in it.
struct FifoPool {
  explicit FifoPool(std::string_view tokens) {
    if (mkfifo(path.c_str(), 0600) != 0) return;
    server_end.reset(open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (server_end.valid() && !WriteBytes(server_end.get(), tokens)) server_end.reset();
  }
  bool ready() const { return server_end.valid(); }

  ScopedTempDir dir;
  std::string path = dir.Child("pool");
  UniqueFd server_end;
};

// The FIFO is swapped for a regular file after the join: the token is not
// written into the file; it goes back to the FIFO we joined, which its
// server still holds.
TEST(ClientTest, RegularFileSwappedInForTheFifoGetsNoToken) {
  FifoPool pool("+");
  ASSERT_TRUE(pool.ready());
  const std::string& path = pool.path;
  Warnings warnings;
  Client client = MustJoin(FifoAuth(path), warnings.Options(false));
  Token held = client.TryAcquire();
  ASSERT_TRUE(held.valid());
  ASSERT_EQ(unlink(path.c_str()), 0);
  UniqueFd file(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(file.valid());
  held = Token();
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0) << "the token went into a regular file";
  EXPECT_EQ(ReadAvailable(pool.server_end.get()), "+");
  EXPECT_THAT(warnings.lines, ::testing::IsEmpty());
}

// The FIFO's path is deleted while we hold tokens (TMPDIR cleaned): the pool
// lives on, since its server holds it open, and every token goes back to it,
// each as the byte it was read as.
TEST(ClientTest, TokensGoBackToAFifoWhosePathWasDeleted) {
  FifoPool pool("ab");
  ASSERT_TRUE(pool.ready());
  Warnings warnings;
  Client client = MustJoin(FifoAuth(pool.path), warnings.Options(false));
  Token first = client.TryAcquire();
  Token second = client.TryAcquire();
  ASSERT_TRUE(first.valid());
  ASSERT_TRUE(second.valid());
  EXPECT_FALSE(client.TryAcquire().valid());  // Empty: the client lets go of any writer.
  ASSERT_EQ(unlink(pool.path.c_str()), 0);
  first.Return();
  second.Return();
  EXPECT_EQ(ReadAvailable(pool.server_end.get()), "ab");
  EXPECT_THAT(warnings.lines, ::testing::IsEmpty());
  EXPECT_FALSE(client.pool_gone());
}

// A directory at the FIFO path is unusable.
TEST(ClientTest, DirectoryAtFifoPathIsUnusable) {
  ScopedTempDir dir;
  Result<Client> joined = Client::Join(FifoAuth(dir.path()));
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.error().kind, ErrorKind::kUnusable);
  EXPECT_THAT(joined.error().message, HasSubstr(dir.path()));
}

// A pool make 4.4 disabled for this child (-2,-2) is unusable, with the '+' hint.
TEST(ClientTest, DisabledPoolIsUnusable) {
  Result<Auth> auth = ParseMakeflags(" -j2 --jobserver-auth=3,4 --jobserver-auth=-2,-2");
  ASSERT_TRUE(auth.ok());
  Result<Client> joined = Client::Join(*auth);
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.error().kind, ErrorKind::kUnusable);
  EXPECT_THAT(joined.error().message, HasSubstr("'+'"));
}

// No auth at all is the normal "no jobserver here".
TEST(ClientTest, NoAuthIsNoJobserver) {
  Result<Client> joined = Client::Join(Auth{});
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.error().kind, ErrorKind::kNoJobserver);
}

// FromEnvironment with none of the three variables set: kNoJobserver.
TEST(ClientTest, FromEnvironmentWithoutVariablesIsNoJobserver) {
  ScopedEnv makeflags("MAKEFLAGS", nullptr);
  ScopedEnv cargo("CARGO_MAKEFLAGS", nullptr);
  ScopedEnv mflags("MFLAGS", nullptr);
  Result<Client> joined = Client::FromEnvironment();
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.error().kind, ErrorKind::kNoJobserver);
}

// FromEnvironment joins the pipe MAKEFLAGS advertises and remembers where from.
TEST(ClientTest, FromEnvironmentJoinsMakeflagsPipe) {
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "+"));
  const std::string makeflags = " -j2 --jobserver-auth=" + std::to_string(pool.read_fd()) + "," +
                                std::to_string(pool.write_fd());
  ScopedEnv env("MAKEFLAGS", makeflags);
  ScopedEnv cargo("CARGO_MAKEFLAGS", nullptr);
  ScopedEnv mflags("MFLAGS", nullptr);
  Result<Client> joined = Client::FromEnvironment(NoImplicitSlot());
  ASSERT_TRUE(joined.ok()) << joined.error().message;
  EXPECT_EQ(joined->auth().variable, "MAKEFLAGS");
  EXPECT_EQ(joined->auth().job_slots, 2);
  Token token = joined->TryAcquire();
  EXPECT_TRUE(token.valid());
}

// FromEnvironment passes a malformed MAKEFLAGS on as an error.
TEST(ClientTest, FromEnvironmentReportsMalformedMakeflags) {
  ScopedEnv env("MAKEFLAGS", " -j2 --jobserver-auth=3,x");
  Result<Client> joined = Client::FromEnvironment();
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.error().kind, ErrorKind::kInvalid);
}

// ---------------------------------------------------------------------------
// FIFO pools.

// A pool a Server made: the implicit slot, then its N-1 '+' tokens.
TEST(ClientTest, JoinsServerFifoPool) {
  ScopedTempDir dir;
  ServerOptions options;
  options.slots = 3;
  options.tmpdir = dir.path();
  Result<Server> server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.error().message;

  Client client = MustJoin(server->auth());
  Token implicit = client.TryAcquire();
  Token one = client.TryAcquire();
  Token two = client.TryAcquire();
  EXPECT_TRUE(implicit.implicit());
  ASSERT_TRUE(one.valid());
  ASSERT_TRUE(two.valid());
  EXPECT_EQ(one.byte(), '+');
  EXPECT_EQ(two.byte(), '+');
  EXPECT_FALSE(client.TryAcquire().valid());
  one.Return();
  two.Return();
  EXPECT_TRUE(server->Shutdown().clean());
}

// A FIFO made by hand with mkfifo, holding bytes of every kind.
TEST(ClientTest, JoinsHandMadeFifoAndReturnsExactBytes) {
  ScopedTempDir dir;
  const std::string path = dir.Child("pool");
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  // The "server": holds both ends (O_RDWR on a FIFO never blocks on Linux).
  UniqueFd server_end(open(path.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(server_end.valid());
  const std::string bytes = std::string("x") + '\0' + '\xff' + "E";
  ASSERT_TRUE(WriteBytes(server_end.get(), bytes));

  Client client = MustJoin(FifoAuth(path), NoImplicitSlot());
  std::vector<Token> tokens;
  std::string read_bytes;
  for (size_t i = 0; i < bytes.size(); ++i) {
    tokens.push_back(client.TryAcquire());
    ASSERT_TRUE(tokens.back().valid());
    read_bytes.push_back(static_cast<char>(tokens.back().byte()));
  }
  EXPECT_EQ(read_bytes, bytes);
  EXPECT_FALSE(client.TryAcquire().valid());
  EXPECT_FALSE(client.pool_gone());

  tokens.clear();  // Returns in order of destruction: front to back.
  EXPECT_EQ(ReadAvailable(server_end.get()), bytes);
}

// A FIFO nobody else has open (its server died) does not hang the join, and
// reads end of file: the pool is gone.
TEST(ClientTest, JoiningAnOrphanFifoDoesNotBlock) {
  ScopedTempDir dir;
  const std::string path = dir.Child("orphan");
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  Warnings warnings;
  Client client = MustJoin(FifoAuth(path), warnings.Options(false));
  EXPECT_FALSE(client.TryAcquire().valid());
  EXPECT_TRUE(client.pool_gone());
}

// The FIFO's server dies while we hold a token: the tokens left in the FIFO
// can still be read, then end of file says the pool is gone. The client
// holds no write end of its own that would hide it.
TEST(ClientTest, FifoServerDeathIsSeenAsEndOfFile) {
  FifoPool pool("++");
  ASSERT_TRUE(pool.ready());
  const std::string& path = pool.path;
  Warnings warnings;
  Client client = MustJoin(FifoAuth(path), warnings.Options(false));
  Token held = client.TryAcquire();
  ASSERT_TRUE(held.valid());
  Token second = client.TryAcquire();
  ASSERT_TRUE(second.valid());
  EXPECT_FALSE(client.pool_gone());

  pool.server_end.reset();  // The server dies.
  EXPECT_FALSE(client.TryAcquire().valid());
  EXPECT_TRUE(client.pool_gone());
  ASSERT_EQ(warnings.lines.size(), 1u);
  EXPECT_THAT(warnings.lines[0], HasSubstr("end of file"));
}

// The client keeps a write end after returning a token, so that a busy
// client does not open the FIFO for every return. It must let go of it
// before waiting: the server dies, and a blocking Acquire ends with
// kPoolGone instead of waiting out its deadline.
TEST(ClientTest, FifoServerDeathIsSeenAfterTokensWereReturned) {
  FifoPool pool("+");
  ASSERT_TRUE(pool.ready());
  const std::string& path = pool.path;
  Warnings warnings;
  Client client = MustJoin(FifoAuth(path), warnings.Options(false));
  Token held = client.TryAcquire();
  ASSERT_TRUE(held.valid());
  held = Token();  // Returned: the client's write end stays open.
  ASSERT_EQ(ReadAvailable(pool.server_end.get()), "+");  // The server takes it back.

  pool.server_end.reset();  // The server dies.
  Result<Token> token = client.Acquire(Client::Clock::now() + 10s);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().kind, ErrorKind::kPoolGone);
  EXPECT_TRUE(client.pool_gone());
}

// ---------------------------------------------------------------------------
// Acquire: deadlines, cancellation, wake-ups.

// A deadline already past: kTimeout at once when no slot is free.
TEST(ClientTest, AcquireWithPastDeadlineTimesOut) {
  ScopedPipe pool;
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  Result<Token> token = client.Acquire(Client::Clock::now() - 1s);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().kind, ErrorKind::kTimeout);
}

// A short deadline: kTimeout, and not before the deadline.
TEST(ClientTest, AcquireWithShortDeadlineTimesOut) {
  ScopedPipe pool;
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  const auto deadline = In(30ms);
  Result<Token> token = client.Acquire(deadline);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().kind, ErrorKind::kTimeout);
  EXPECT_GE(Client::Clock::now(), deadline);
}

// The implicit slot is handed out by Acquire after its own deadline too.
TEST(ClientTest, AcquireWithPastDeadlineStillTakesAFreeSlot) {
  ScopedPipe pool;
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "+"));
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()));
  Result<Token> implicit = client.Acquire(Client::Clock::now() - 1s);
  ASSERT_TRUE(implicit.ok()) << implicit.error().message;
  EXPECT_TRUE(implicit->implicit());
  Result<Token> explicit_token = client.Acquire(Client::Clock::now() - 1s);
  ASSERT_TRUE(explicit_token.ok()) << explicit_token.error().message;
  EXPECT_EQ(explicit_token->byte(), '+');
}

// A cancel fd that is already readable cancels the wait at once.
TEST(ClientTest, AcquireCancelledBeforeCalling) {
  ScopedPipe pool;
  ScopedPipe cancel;
  ASSERT_TRUE(WriteBytes(cancel.write_fd(), "c"));
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  Result<Token> token = client.Acquire(In(60s), cancel.read_fd());
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().kind, ErrorKind::kCancelled);
}

// Another thread cancels while Acquire is blocked in poll.
TEST(ClientTest, AcquireCancelledFromAnotherThread) {
  ScopedPipe pool;
  ScopedPipe cancel;
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  const pid_t pid = getpid();
  const pid_t main_tid = gettid();
  bool saw_waiting = false;
  std::thread canceller([&] {
    saw_waiting = WaitUntilBlocked(pid, main_tid);
    WriteBytes(cancel.write_fd(), "c");
  });
  Result<Token> token = client.Acquire(In(60s), cancel.read_fd());
  canceller.join();
  EXPECT_TRUE(saw_waiting);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().kind, ErrorKind::kCancelled);
}

// Closing the cancel pipe's write end (POLLHUP) cancels too.
TEST(ClientTest, AcquireCancelledByClosingTheCancelPipe) {
  ScopedPipe pool;
  ScopedPipe cancel;
  cancel.CloseWrite();
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  Result<Token> token = client.Acquire(In(60s), cancel.read_fd());
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().kind, ErrorKind::kCancelled);
}

// A token written by another process wakes a blocked Acquire.
TEST(ClientTest, AcquireWokenByTokenFromChildProcess) {
  ScopedPipe pool;
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  const pid_t parent = getpid();
  ScopedChild child = ScopedChild::Fork([&] {
    // Wait until the parent sleeps in poll, then hand it a token.
    const bool waited = WaitUntilBlocked(parent, parent);
    return WriteBytes(pool.write_fd(), "C") && waited ? 0 : 1;
  });
  ASSERT_TRUE(child.started());
  Result<Token> token = client.Acquire(In(60s));
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(token->byte(), 'C');
  EXPECT_EQ(child.Wait(), 0) << tierun::test::DescribeStatus(child.Wait());
}

// readiness_fd() becomes readable when a token arrives.
TEST(ClientTest, ReadinessFdSignalsAToken) {
  ScopedPipe pool;
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), NoImplicitSlot());
  EXPECT_EQ(BytesAvailable(client.readiness_fd()), 0);
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "+"));
  EXPECT_EQ(BytesAvailable(client.readiness_fd()), 1);
  EXPECT_TRUE(client.TryAcquire().valid());
}

// A token that cannot go back (pool pipe full) is reported, not silently lost.
TEST(ClientTest, WarnsWhenATokenCannotBeReturned) {
  ScopedPipe pool(O_CLOEXEC | O_NONBLOCK);
  ASSERT_TRUE(WriteBytes(pool.write_fd(), "+"));
  Warnings warnings;
  Client client = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()), warnings.Options(false));
  Token token = client.TryAcquire();
  ASSERT_TRUE(token.valid());
  // Someone over-returned until the pipe is full.
  const std::string chunk(4096, '+');
  while (write(pool.write_fd(), chunk.data(), chunk.size()) > 0) {
  }
  while (write(pool.write_fd(), "+", 1) == 1) {
  }
  token.Return();
  ASSERT_EQ(warnings.lines.size(), 1u);
  EXPECT_THAT(warnings.lines[0], HasSubstr("could not return"));
}

// ---------------------------------------------------------------------------
// Pool identity.

// Two clients of one pipe pool see the same pool id; another pipe differs.
TEST(ClientTest, PoolIdIdentifiesThePipe) {
  ScopedPipe pool;
  ScopedPipe other;
  Client a = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()));
  Client b = MustJoin(PipeAuth(pool.read_fd(), pool.write_fd()));
  Client c = MustJoin(PipeAuth(other.read_fd(), other.write_fd()));
  EXPECT_TRUE(a.pool_id() == b.pool_id());
  EXPECT_FALSE(a.pool_id() == c.pool_id());
  EXPECT_NE(a.pool_id().inode, 0u);
}

// Two clients of one FIFO see the same pool id; another FIFO differs.
TEST(ClientTest, PoolIdIdentifiesTheFifo) {
  ScopedTempDir dir;
  ServerOptions options;
  options.tmpdir = dir.path();
  Result<Server> first = Server::Create(options);
  Result<Server> second = Server::Create(options);
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE(second.ok()) << second.error().message;
  Client a = MustJoin(first->auth());
  Client b = MustJoin(first->auth());
  Client c = MustJoin(second->auth());
  EXPECT_TRUE(a.pool_id() == b.pool_id());
  EXPECT_FALSE(a.pool_id() == c.pool_id());
}

// The pipe and the FIFO that both hold a Server's pool: the same id either way.
TEST(ClientTest, PoolIdOfServerPipeMatchesAcrossJoins) {
  ServerOptions options;
  options.style = ServerStyle::kPipe;
  Result<Server> server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.error().message;
  Client a = MustJoin(server->auth());
  Client b = MustJoin(server->auth());
  EXPECT_TRUE(a.pool_id() == b.pool_id());
  struct stat st;
  ASSERT_EQ(fstat(server->auth().read_fd, &st), 0);
  EXPECT_EQ(a.pool_id().inode, st.st_ino);
}

}  // namespace
}  // namespace jobserver
