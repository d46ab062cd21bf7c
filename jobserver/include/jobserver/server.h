#pragma once

/// Creating a jobserver pool that make, cargo, ninja, ctest and tierun share.
///
/// A pool of N slots holds N-1 tokens: the creator keeps the implicit slot
/// for the one child it runs (GNU make, posixos.c: jobserver_setup). Two
/// styles:
///  - fifo (make >= 4.4, cargo, ninja >= 1.13, ctest >= 3.29): a named pipe in
///    a private directory (0700 directory, 0600 FIFO) that children open by
///    path; removed on Shutdown(), destruction, SIGINT and SIGTERM.
///  - pipe (make <= 4.3 cannot read `fifo:`, it dies with "internal error:
///    invalid --jobserver-auth string"): an anonymous pipe whose fds the
///    launcher must make inheritable in the children it starts, and only
///    there (InheritableFds()).
/// kAuto picks pipe when the `make` on PATH is older than 4.4.
///
/// Filling never blocks: the write end is non-blocking, and a pool larger than
/// the pipe can hold is an error rather than a hang (cargo#9739).
///
/// Shutdown() audits the pool with a bounded, non-blocking drain: it counts
/// the tokens that came back and reports those missing or extra. It never
/// reads until end-of-file, which would hang on a leaked writer (sccache#2145).

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jobserver/error.h"
#include "jobserver/makeflags.h"

namespace jobserver {

enum class ServerStyle { kFifo, kPipe, kAuto };

/// "fifo", "pipe", "auto".
const char* ServerStyleName(ServerStyle style);
/// Parses "fifo", "pipe" or "auto"; kInvalid otherwise.
Result<ServerStyle> ParseServerStyle(std::string_view text);

/// kPipe when the GNU make found on PATH is older than 4.4, else kFifo.
ServerStyle ResolveAutoStyle();

struct ServerOptions {
  int slots = 2;  ///< N: the pool holds N-1 tokens.
  ServerStyle style = ServerStyle::kFifo;
  /// Where the private FIFO directory goes; empty: $TMPDIR, else /tmp.
  std::string tmpdir;
  /// The byte written as token (make writes '+').
  char token_byte = '+';
};

/// Tokens counted by Shutdown().
struct Audit {
  int expected = 0;  ///< N-1
  int returned = 0;  ///< Found in the pool at the end.
  int missing = 0;   ///< expected - returned, when positive.
  int extra = 0;     ///< returned - expected, when positive.
  bool clean() const { return missing == 0 && extra == 0; }
  /// "3 of 3 tokens returned", "2 of 3 tokens returned, 1 missing" or
  /// "8 of 3 tokens returned: the pool held 5 more tokens than it gave out".
  std::string Describe() const;
};

class Server {
 public:
  /// Creates and fills the pool. Errors: kInvalid (slots < 1), kSystem.
  static Result<Server> Create(const ServerOptions& options);

  Server(Server&&) noexcept;
  Server& operator=(Server&&) noexcept;
  ~Server();

  int slots() const;
  ServerStyle style() const;  ///< kFifo or kPipe, never kAuto.
  /// How the pool is advertised; Client::Join(auth()) joins it.
  const Auth& auth() const;

  /// MAKEFLAGS for children: " -jN --jobserver-auth=fifo:PATH" or "=R,W".
  std::string Makeflags() const;
  /// CARGO_MAKEFLAGS for children, in the form cargo itself writes.
  std::string CargoMakeflags() const;
  /// Name/value pairs to set in a child's environment.
  std::vector<std::pair<std::string, std::string>> ChildEnvironment() const;
  /// Fds a child must inherit (pipe style); empty for fifo style.
  std::vector<int> InheritableFds() const;

  /// Drains the pool without blocking, removes the FIFO and closes the fds.
  /// Call after every child that used the pool has exited. Idempotent: later
  /// calls return the first audit.
  Audit Shutdown();

  /// Opaque; defined beside the platform implementation.
  struct State;

 private:
  explicit Server(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace jobserver
