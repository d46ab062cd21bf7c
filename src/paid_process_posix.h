#pragma once

/// Finding the process that a jobserver-aware parent paid a slot for.
///
/// GNU make (and cargo, ninja, ctest >= 3.29, tierun) takes one job slot for
/// every child it starts; that child -- the *paid process* -- owns the
/// implicit slot and may run one job without reading a token. When `tierun
/// exec` runs, the paid process is either `exec` itself (make runs a simple
/// recipe directly, without a shell) or an ancestor (the recipe's shell, a
/// script that starts many `exec`s in the background). We walk up from this
/// process through /proc until the parent is a *payer*; the process below it
/// is the paid one, and every `exec` beneath it shares its single implicit
/// slot (see slot_claim_posix.h).
///
/// Payers are recognised by program name: make, gmake, cargo, tierun, and
/// ctest >= 3.29 and ninja >= 1.13, the first versions that take tokens (the
/// children of an older ctest or ninja share the slot it was paid itself).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

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

/// Which programs count as payers. Under a pool that is advertised but
/// unusable (make <= 4.3 closed the fds of a recipe without '+'), a ctest or
/// ninja that would be a client could not connect and paid nothing: only
/// the programs that create pools count then.
enum class Payers { kAll, kPoolCreators };

/// True when `process` pays one job slot for each child it starts.
bool IsPayer(const ProcessInfo& process, Payers payers = Payers::kAll);

/// The paid process at or above `start`; nullopt when no ancestor, pid 1
/// included, is a payer (the pool was created by something we do not know).
std::optional<ProcessKey> FindPaidProcess(pid_t start, Payers payers = Payers::kAll);

}  // namespace tierun
