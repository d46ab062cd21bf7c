#include "src/agent_pool.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "src/commands.h"
#include "src/paid_process_posix.h"
#include "src/run_child.h"

namespace tierun {
namespace {

using jobserver::Error;
using jobserver::ErrorKind;
using jobserver::Result;

Result<AgentPool> CreateOwnPool(int slots, const std::string& why) {
  jobserver::ServerOptions server_options;
  server_options.slots = slots;
  server_options.style = jobserver::ServerStyle::kAuto;
  auto server = jobserver::Server::Create(server_options);
  if (!server) return server.error();
  auto client = jobserver::Client::Join(server->auth());
  if (!client) return client.error();
  AgentPool pool;
  // The pool is ours, so N is known: an agent that writes tokens into it
  // must not get more agents started (the audit at the end names them).
  pool.cap = slots;
  pool.description = why + ": a pool of " + std::to_string(slots) + " (" +
                     jobserver::ServerStyleName(server->style()) + ")";
  pool.server.emplace(std::move(*server));
  pool.client.emplace(std::move(*client));
  return pool;
}

/// The claim on `paid`'s implicit slot in `pool`, or nullopt (warned) when
/// it cannot be opened: then tokens only.
std::optional<ImplicitSlotClaim> OpenClaim(jobserver::PoolId pool, ProcessKey paid) {
  auto claim = ImplicitSlotClaim::Open(pool, paid);
  if (!claim) {
    Warn(claim.error().message + "; the implicit slot cannot be shared");
    return std::nullopt;
  }
  return std::move(*claim);
}

/// Blocks until `claim` holds the slot, or a termination signal comes.
jobserver::Status WaitForClaim(ImplicitSlotClaim& claim, ScopedSignalFd& signals, int* signal) {
  if (jobserver::Status waiting = claim.StartWaiting(); !waiting) return waiting;
  while (true) {
    struct pollfd fds[2] = {{signals.fd(), POLLIN, 0}, {claim.ready_fd(), POLLIN, 0}};
    if (poll(fds, 2, -1) == -1) {
      if (errno == EINTR) continue;
      return jobserver::SystemError("poll");
    }
    if ((fds[0].revents & POLLIN) && (*signal = signals.Read()) != 0) {
      return Error{ErrorKind::kCancelled, "interrupted while waiting for the implicit slot"};
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      if (claim.CollectWaiter()) return {};
      return Error{ErrorKind::kSystem, "the helper waiting for the implicit slot died"};
    }
  }
}

/// make <= 4.3 advertised a pool but passed no fds (a recipe without '+'):
/// run one agent at a time on the slot make paid for, taking turns with
/// every other tierun below the same paid process -- or, with no payer
/// above, with every other tierun that sees the same advertisement.
Result<AgentPool> OpenOnPaidSlotOnly(const jobserver::MakeflagsEnvironment& env,
                                     ScopedSignalFd& signals, int* signal) {
  const std::optional<ProcessKey> paid = FindPaidProcess(getpid(), Payers::kPoolCreators);
  std::optional<ImplicitSlotClaim> claim =
      paid && paid->pid == getpid()
          ? std::nullopt
          : OpenClaim(PoolIdOfUnusablePool(env), paid.value_or(kNoPaidProcess));
  if (claim && !claim->TryClaim()) {
    if (jobserver::Status waited = WaitForClaim(*claim, signals, signal); !waited) {
      return waited.error();
    }
  }
  Result<AgentPool> pool = CreateOwnPool(1, "jobserver unusable");
  if (pool && claim) pool->session_claim.emplace(std::move(*claim));
  return pool;
}

/// Joins `auth`; the client hands out the implicit slot only when it is ours
/// alone, else the scheduler shares the paid process's slot -- or, with no
/// payer above, the one slot of every tierun of the pool that has none, so a
/// pool whose server has ended (drained, the write end held by us) still
/// runs one agent at a time instead of waiting for ever.
Result<AgentPool> JoinInherited(const jobserver::Auth& auth) {
  const std::optional<ProcessKey> paid = FindPaidProcess(getpid());
  const bool ours = paid && paid->pid == getpid();
  jobserver::ClientOptions options;
  options.use_implicit_slot = ours;
  auto client = jobserver::Client::Join(auth, options);
  if (!client) return client.error();
  AgentPool pool;
  pool.description = "joined the jobserver in " + auth.variable;
  if (!ours) {
    if (auto claim = OpenClaim(client->pool_id(), paid.value_or(kNoPaidProcess))) {
      pool.shared_slot.emplace(std::move(*claim));
      pool.description +=
          paid ? " (sharing the implicit slot of pid " + std::to_string(paid->pid) + ")"
               : " (no paying parent: sharing one slot with the pool's others)";
    } else if (!paid) {
      // No slot to share: were the pool to die, none would be left and the
      // session would wait forever; the client gives one once it is gone.
      options.one_slot_when_gone = true;
      client = jobserver::Client::Join(auth, options);
      if (!client) return client.error();
      pool.description += " (tokens only: no paying parent found)";
    }
  }
  pool.client.emplace(std::move(*client));
  return pool;
}

}  // namespace

Result<AgentPool> OpenAgentPool(const AgentPoolRequest& request,
                                const jobserver::MakeflagsEnvironment& env, ScopedSignalFd& signals,
                                int* signal) {
  Result<jobserver::Auth> auth = jobserver::ChooseAuth(env);
  if (auth && auth->style == jobserver::AuthStyle::kNone && !auth->disabled) {
    return CreateOwnPool(RunPoolSlots(request.jobs, env, request.ctest_slots),
                         request.ctest_slots ? "CTest resource slots" : "no jobserver inherited");
  }
  Result<AgentPool> pool = auth ? JoinInherited(*auth) : Result<AgentPool>(auth.error());
  if (!pool) {
    Warn(pool.error().message + "; running one agent at a time on the slot make paid for");
    return OpenOnPaidSlotOnly(env, signals, signal);
  }
  pool->cap = request.jobs;
  if (request.ctest_slots && (pool->cap <= 0 || *request.ctest_slots < pool->cap)) {
    pool->cap = *request.ctest_slots;
  }
  if (pool->cap > 0) pool->description += ", capped at " + std::to_string(pool->cap);
  return pool;
}

}  // namespace tierun
