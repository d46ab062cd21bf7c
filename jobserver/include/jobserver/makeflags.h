#pragma once

/// Reading the jobserver advertisement out of MAKEFLAGS.
///
/// GNU make passes its pool to children in the MAKEFLAGS environment variable:
///
///     MAKEFLAGS="ks -j8 --jobserver-auth=fifo:/tmp/GMfifo1234"     (make 4.4)
///     MAKEFLAGS=" -j8 --jobserver-auth=3,4"                         (make 4.2, 4.3)
///     MAKEFLAGS=" -j --jobserver-fds=3,4"                           (make <= 4.1)
///
/// The rules implemented here are make's own (main.c: decode_env_switches and
/// posixos.c: jobserver_parse_auth, make 4.4.1):
///  - words are separated by blanks; a backslash escapes the next character,
///    so a FIFO under "/tmp/my dir" arrives as `fifo:/tmp/my\ dir/GMfifo1`;
///  - the first word holds single-letter flags unless it starts with '-'
///    or contains '='; the letter 'n' means "dry run";
///  - `--jobserver-auth=` and `--jobserver-fds=` are one option for make, so
///    the *last* of either name wins (make 4.4 appends `--jobserver-auth=-2,-2`
///    for children it does not consider recursive);
///  - `R,W` names inherited fds; a negative fd means the jobserver is disabled
///    for this process; `fifo:PATH` names a FIFO to open;
///  - `-j` without a number (unlimited) and `-j1` come without a pool;
///  - a `--` word ends the options (command-line variable overrides follow).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobserver/error.h"

namespace jobserver {

enum class AuthStyle {
  kNone,  ///< No usable pool advertised.
  kPipe,  ///< Inherited file descriptors `R,W`.
  kFifo,  ///< A named pipe `fifo:PATH`.
};

/// What a MAKEFLAGS-like variable says about the pool.
struct Auth {
  AuthStyle style = AuthStyle::kNone;
  int read_fd = -1;
  int write_fd = -1;
  std::string fifo_path;
  /// The pool was advertised with negative fds: make 4.4 does this for
  /// children it does not consider recursive (no '+' and no $(MAKE)).
  bool disabled = false;
  /// The first word carried the flag letter 'n' (make -n).
  bool dry_run = false;
  /// N of the last `-jN`; 0 when there was none or `-j` had no number.
  int job_slots = 0;
  /// The variable it came from ("MAKEFLAGS", "CARGO_MAKEFLAGS", "MFLAGS"), if any.
  std::string variable;
  /// The auth word's value as written, for messages ("3,4", "fifo:/tmp/x").
  std::string auth_text;
};

/// Splits a MAKEFLAGS value into words the way make does: blanks separate,
/// a backslash makes the next character literal.
std::vector<std::string> SplitMakeflags(std::string_view text);

/// Escapes blanks and backslashes so SplitMakeflags gives `word` back.
std::string EscapeForMakeflags(std::string_view word);

/// Parses one MAKEFLAGS-like value. Errors: kUnusable for an auth style this
/// library cannot use (a future style, a Windows semaphore name); kInvalid for
/// a malformed `R,W` or an empty auth.
Result<Auth> ParseMakeflags(std::string_view text);

/// The three variables a child can inherit; nullopt means "unset".
struct MakeflagsEnvironment {
  std::optional<std::string> makeflags;
  std::optional<std::string> cargo_makeflags;
  std::optional<std::string> mflags;

  /// Reads MAKEFLAGS, CARGO_MAKEFLAGS and MFLAGS from the process environment.
  static MakeflagsEnvironment FromProcess();
};

/// True when make runs us under `make -n`: the first word of MAKEFLAGS (or of
/// MFLAGS when MAKEFLAGS is unset) carries the flag letter 'n'. Known even when
/// the pool's description cannot be parsed.
bool DryRunRequested(const MakeflagsEnvironment& env);

/// Picks the pool a process should join.
///
/// Policy: the first of MAKEFLAGS, CARGO_MAKEFLAGS, MFLAGS that advertises a
/// pool (or a disabled or broken one) wins. MAKEFLAGS comes first because make
/// is the usual parent and build scripts copy CARGO_MAKEFLAGS into MAKEFLAGS
/// before running make; cargo only sets CARGO_MAKEFLAGS, which is next; MFLAGS
/// is the historical fallback. Dry run is read from MAKEFLAGS (or MFLAGS when
/// MAKEFLAGS is unset): cargo never sets it.
Result<Auth> ChooseAuth(const MakeflagsEnvironment& env);

}  // namespace jobserver
