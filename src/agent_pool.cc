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
  pool.description = why + ": a pool of " + std::to_string(slots) + " (" +
                     jobserver::ServerStyleName(server->style()) + ")";
  pool.server.emplace(std::move(*server));
  pool.client.emplace(std::move(*client));
  return pool;
}

/// Whose implicit slot our agents may use (see the header): true with no
/// claim when it is ours alone; true with `claim` set when we took the paid
/// process's shared slot; false when another tierun holds it or no payer
/// is known.
struct ImplicitSlot {
  bool usable = false;
  std::optional<ImplicitSlotClaim> claim;
  std::optional<ProcessKey> paid;
};

ImplicitSlot FindImplicitSlot(jobserver::PoolId pool) {
  ImplicitSlot slot;
  slot.paid = FindPaidProcess(getpid());
  if (!slot.paid) return slot;
  if (slot.paid->pid == getpid()) {
    slot.usable = true;
    return slot;
  }
  auto claim = ImplicitSlotClaim::Open(pool, *slot.paid);
  if (!claim) {
    Warn(claim.error().message + "; the implicit slot cannot be shared");
    return slot;
  }
  if (claim->TryClaim()) {
    slot.usable = true;
    slot.claim.emplace(std::move(*claim));
  }
  return slot;
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
/// every other tierun below the same paid process.
Result<AgentPool> OpenOnPaidSlotOnly(const jobserver::MakeflagsEnvironment& env,
                                     ScopedSignalFd& signals, int* signal) {
  ImplicitSlot slot = FindImplicitSlot(PoolIdOfUnusablePool(env));
  if (!slot.usable && slot.paid) {
    auto claim = ImplicitSlotClaim::Open(PoolIdOfUnusablePool(env), *slot.paid);
    if (!claim) return claim.error();
    if (jobserver::Status waited = WaitForClaim(*claim, signals, signal); !waited) {
      return waited.error();
    }
    slot.claim.emplace(std::move(*claim));
  }
  Result<AgentPool> pool = CreateOwnPool(1, "jobserver unusable");
  if (pool && slot.claim) pool->claim.emplace(std::move(*slot.claim));
  return pool;
}

/// Joins `auth`, handing out the implicit slot only when it is ours to use.
Result<AgentPool> JoinInherited(const jobserver::Auth& auth) {
  jobserver::ClientOptions options;
  options.use_implicit_slot = false;
  auto client = jobserver::Client::Join(auth, options);
  if (!client) return client.error();
  ImplicitSlot slot = FindImplicitSlot(client->pool_id());
  if (slot.usable) {
    // The slot is known only once the pool is: join again, handing it out.
    client = jobserver::Client::Join(auth);
    if (!client) return client.error();
  }
  AgentPool pool;
  pool.description = "joined the jobserver in " + auth.variable +
                     (slot.usable ? "" : " (tokens only: the implicit slot is not ours)");
  pool.client.emplace(std::move(*client));
  if (slot.claim) pool.claim.emplace(std::move(*slot.claim));
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
