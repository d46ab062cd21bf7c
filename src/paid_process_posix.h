#pragma once

/// Finding the process that a jobserver-aware parent paid a slot for.
///
/// A *payer* takes one job slot from the pool for every child it starts;
/// that child -- the *paid process* -- owns the implicit slot and may run one
/// job without reading a token. When `tierun exec` runs, the paid process is
/// either `exec` itself (make runs a simple recipe directly, without a shell)
/// or an ancestor (the recipe's shell, a script that starts many `exec`s in
/// the background). We walk up from this process through /proc until the
/// parent is a payer; the process below it is the paid one, and every `exec`
/// beneath it shares its single implicit slot (see slot_claim_posix.h).
///
/// Who pays is decided from what each ancestor does, not from its name
/// alone: its arguments (/proc/PID/cmdline) and the MAKEFLAGS it was started
/// with (/proc/PID/environ, readable for our own user's processes; when it
/// cannot be read, a client is taken not to pay). The rules, read from each
/// program's source:
///  - make, gmake (GNU make 4.3/4.4, main.c): always. Under an inherited
///    pool without -j it joins that pool; with -jN, -j1 or -j (unlimited) it
///    warns "-jN forced in submake: resetting jobserver mode" and its
///    children see its own pool of N, no pool, or no pool and no limit --
///    tierun follows what they see. Without a pool it runs one recipe at a
///    time on the slot it was paid itself.
///  - cargo and tierun: always (they create a pool or join the one they
///    see, and pay for each child from it).
///  - ctest >= 3.29 (cmUVJobServerClient, cmCTestMultiProcessHandler): joins
///    the pool in its MAKEFLAGS -- `R,W` or `fifo:`, the last auth option
///    wins -- whenever it can open it, and then reads a token for every test
///    at *any* -j: `-jN` is an extra cap, a bare `-j` leaves the pace to the
///    pool, no -j runs one test at a time. Negative or closed fds, or a FIFO
///    it cannot open, leave it unconnected: it pays nothing.
///  - ninja >= 1.13 (src/ninja.cc SetupJobserverClient and ReadFlags,
///    src/jobserver.cc ParseNativeMakeFlagsValue): joins only a `fifo:` pool,
///    read from MAKEFLAGS alone. It ignores `R,W` pools ("Pipe-based protocol
///    is not supported!"), and joins nothing when given any -j (-jN and -j0
///    alike set disable_jobserver_client), -n, a MAKEFLAGS whose flag letters
///    hold 'n', or -t TOOL. Older ninja joins no pool at all.
///  - anything else: not a payer (its children share the slot it was paid).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tierun {

/// A process, identified across pid reuse by its start time.
struct ProcessKey {
  pid_t pid = 0;
  uint64_t start_time = 0;  ///< Clock ticks after boot (/proc/PID/stat field 22).
};

struct ProcessInfo {
  ProcessKey key;
  pid_t parent = 0;
  std::string name;  ///< Basename of the executable, else the kernel's comm.
};

/// Reads /proc/PID/stat and /proc/PID/exe; nullopt when the process is gone
/// or unreadable.
std::optional<ProcessInfo> ReadProcessInfo(pid_t pid);

/// What a client ancestor shows of how it treats a pool, read from /proc.
struct PayerEvidence {
  /// Its arguments after argv[0] (/proc/PID/cmdline).
  std::vector<std::string> args;
  /// MAKEFLAGS in its environment; nullopt when unset or unreadable.
  std::optional<std::string> makeflags;
  /// The pool in `makeflags` can be opened by that process: its fds are
  /// pipes or FIFOs there (/proc/PID/fd), or its FIFO path is a FIFO.
  bool pool_openable = false;
};

/// Reads a process's PayerEvidence; nullopt when the process is gone.
std::optional<PayerEvidence> ReadPayerEvidence(pid_t pid);

/// ninja's arguments run a build that may join a pool: none of -j (any
/// value, 0 included), -n, -t TOOL, -h, --help or --version, parsed as its
/// getopt_long does (grouped letters, option values, `--`).
bool NinjaArgumentsAllowJobserver(const std::vector<std::string>& args);

/// True when a client program (`name`: "ninja" >= 1.13, "ctest" >= 3.29)
/// with this evidence joins the pool it sees and pays for each child.
bool ClientPaysItsChildren(std::string_view name, const PayerEvidence& evidence);

/// Which programs count as payers. Under a pool that is advertised but
/// unusable (make <= 4.3 closed the fds of a recipe without '+'), a ctest or
/// ninja that would be a client could not connect and paid nothing: only
/// the programs that create pools count then.
enum class Payers { kAll, kPoolCreators };

/// True when `process` pays one job slot for each child it starts.
bool IsPayer(const ProcessInfo& process, Payers payers = Payers::kAll);

/// The paid process at or above `start`; nullopt when no ancestor, pid 1
/// included, is a payer (the pool was created by something we do not know,
/// or our ancestors that were paid have died and we were reparented).
std::optional<ProcessKey> FindPaidProcess(pid_t start, Payers payers = Payers::kAll);

/// The version `executable --version` prints after `prefix` ("GNU Make 4.3",
/// "ctest version 3.29.0", "1.13.2" for ninja) is at least major.minor.
bool ProgramVersionAtLeast(const std::string& executable, std::string_view prefix, int major,
                           int minor);

/// `program` as execvp would find it: itself when it holds a '/', else the
/// first executable of that name on PATH; empty when there is none.
std::string FindProgram(const std::string& program);

}  // namespace tierun
