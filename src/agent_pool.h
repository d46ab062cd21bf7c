#pragma once

/// The pool `tierun run`'s agents share (docs/design.md sections 2 and 4.3):
/// the jobserver of make (or cargo, ctest, tierun serve) that started tierun,
/// or a pool of its own.
///
/// Under an inherited pool the one question is whose implicit slot tierun
/// may run an agent on. When tierun's parent pays one slot per child (make,
/// cargo, tierun; ctest >= 3.29 and ninja >= 1.13 only when they joined the
/// pool, see paid_process_posix.h), the slot is tierun's own.
/// When something in between pays nothing -- a script, or a ctest < 3.29
/// running several tierun tests under `make -j3 check` -- the slot belongs
/// to the *paid process* below the payer and all tierun processes beneath it
/// share it (ImplicitSlotClaim): the scheduler claims it for one agent at a
/// time and gives it back when the agent ends, so a sibling waiting for it
/// gets it. With no payer among the ancestors (the pool's creator is
/// unknown, or what it paid for has ended and we were reparented), the
/// tierun processes of the pool that found none share one slot
/// (kNoPaidProcess) besides the tokens: a pool drained by a server that has
/// exited still runs one agent at a time, never none and never more.

#include <optional>
#include <string>

#include "jobserver/client.h"
#include "jobserver/error.h"
#include "jobserver/makeflags.h"
#include "jobserver/server.h"
#include "src/signals_posix.h"
#include "src/slot_claim_posix.h"

namespace tierun {

struct AgentPool {
  std::optional<jobserver::Server> server;  ///< Set when the pool is our own.
  std::optional<jobserver::Client> client;
  /// The paid process's implicit slot, shared with our siblings: for the
  /// scheduler to claim per agent (SchedulerOptions::shared_slot).
  std::optional<ImplicitSlotClaim> shared_slot;
  /// The one slot make paid for when its pool is unusable, held all session.
  std::optional<ImplicitSlotClaim> session_claim;
  /// Most agents (and judges) at once: our own pool's size, whatever it holds
  /// (an agent may write tokens into it), or -j and the CTest slots under an
  /// inherited pool; 0 = none.
  int cap = 0;
  std::string description;  ///< For the journal and the live view.
};

struct AgentPoolRequest {
  int jobs = 0;  ///< -j: own pool size, or a cap under an inherited pool; 0 = default.
  std::optional<int> ctest_slots;  ///< Agent slots CTest allocated to this test.
};

/// Joins the inherited pool (capped by -j and the CTest slots), else creates
/// one of RunPoolSlots(). A pool advertised but unusable (make <= 4.3 without
/// '+') leaves the one slot make paid for; when another tierun below the
/// same paid process holds it, waits for it. A termination signal while
/// waiting gives an error of kind kCancelled and sets `*signal`.
jobserver::Result<AgentPool> OpenAgentPool(const AgentPoolRequest& request,
                                           const jobserver::MakeflagsEnvironment& env,
                                           ScopedSignalFd& signals, int* signal);

}  // namespace tierun
