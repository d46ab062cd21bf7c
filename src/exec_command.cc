// `tierun exec [-j N] [--token] -- CMD...`: GNU parallel's `sem`, on the
// jobserver. See the README's "How tierun exec finds its slot".

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "jobserver/client.h"
#include "jobserver/server.h"
#include "src/commands.h"
#include "src/containment_posix.h"
#include "src/paid_process_posix.h"
#include "src/run_child.h"
#include "src/slot_claim_posix.h"

namespace tierun {
namespace {

using jobserver::Client;
using jobserver::PoolId;
using jobserver::Token;

constexpr const char* kWho = "tierun exec";

/// The slot CMD runs on: an explicit token, or the paid process's implicit
/// slot (ours alone, claimed directly, or through the helper that waited).
struct Slot {
  Token token;
  std::optional<ImplicitSlotClaim> claim;
  int interrupted_by = 0;
  bool failed = false;
};

std::string JoinCommand(const std::vector<std::string>& command) {
  std::string text;
  for (const std::string& word : command) text += (text.empty() ? "" : " ") + word;
  return text;
}

/// Opens the claim on the paid process's implicit slot and takes it if free;
/// starts the helper that waits for it otherwise. nullopt when the claim
/// cannot be used: then only tokens are left.
std::optional<ImplicitSlotClaim> ClaimOrWaitForImplicitSlot(PoolId pool, ProcessKey paid) {
  auto claim = ImplicitSlotClaim::Open(pool, paid);
  if (!claim) {
    Warn(claim.error().message + "; the implicit slot cannot be shared");
    return std::nullopt;
  }
  if (!claim->TryClaim()) {
    if (jobserver::Status waiting = claim->StartWaiting(); !waiting) {
      Warn(waiting.error().message + "; the implicit slot cannot be shared");
      return std::nullopt;
    }
  }
  return std::move(*claim);
}

/// Waits for a token or for the implicit slot, whichever comes first, or for
/// a termination signal (then interrupted_by is set). With no pool to read
/// (client null or gone), only the implicit slot is waited for.
void WaitForSlot(Client* client, ScopedSignalFd& signals, Slot& slot) {
  while (true) {
    const bool pool_open = client != nullptr && !client->pool_gone();
    if (pool_open && (slot.token = client->TryAcquire()).valid()) return;
    const bool claim_waiting = slot.claim && !slot.claim->held();
    if (!claim_waiting && !(client != nullptr && !client->pool_gone())) return;
    struct pollfd fds[3] = {{signals.fd(), POLLIN, 0},
                            {pool_open ? client->readiness_fd() : -1, POLLIN, 0},
                            {claim_waiting ? slot.claim->ready_fd() : -1, POLLIN, 0}};
    if (poll(fds, 3, -1) == -1) {
      if (errno == EINTR) continue;
      perror("tierun exec: poll");
      slot.failed = true;
      return;
    }
    if ((fds[0].revents & POLLIN) && (slot.interrupted_by = signals.Read()) != 0) return;
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      if (slot.claim->CollectWaiter()) return;
      slot.claim.reset();  // The helper died: tokens only.
    }
  }
}

/// Whose implicit slot CMD may share, if any: the paid process's; with no
/// payer above, the one slot every such exec of the pool takes turns on
/// (else a pool whose server is gone would leave them waiting for ever, or
/// an unusable one would let all of them run). `--token` shares no paid
/// process's slot while the pool can give tokens.
std::optional<ProcessKey> SlotToShare(const std::optional<ProcessKey>& paid, bool pool_usable,
                                      bool always_token) {
  if (!paid) {
    Warn(
        "no paying parent above (it has ended, or the pool's creator is unknown): taking turns "
        "on one slot with the other tierun exec of this pool that have none" +
        std::string(pool_usable ? ", besides its tokens" : ""));
    return kNoPaidProcess;
  }
  if (always_token && pool_usable) return std::nullopt;
  return paid;
}

/// Finds the slot CMD may run on. `client` is null when the pool is
/// advertised but unusable: then CMD shares a slot alone.
Slot AcquireSlot(Client* client, PoolId pool, ScopedSignalFd& signals, bool always_token) {
  Slot slot;
  // A ctest or ninja that would be a client could not use an unusable pool.
  const std::optional<ProcessKey> paid =
      FindPaidProcess(getpid(), client == nullptr ? Payers::kPoolCreators : Payers::kAll);
  // Paid for directly (make ran us without a shell): the slot is ours alone.
  if (paid && paid->pid == getpid() && !(always_token && client != nullptr)) return slot;
  if (const auto holder = SlotToShare(paid, client != nullptr, always_token)) {
    if (auto claim = ClaimOrWaitForImplicitSlot(pool, *holder))
      slot.claim.emplace(std::move(*claim));
    if (slot.claim && slot.claim->held()) return slot;
  }
  WaitForSlot(client, signals, slot);
  return slot;
}

/// Runs CMD, on the slot already taken, in a box of its own: what it leaves
/// running when it ends is killed before the slot goes back, and if we die
/// the box's guard kills it (containment_posix.h). Made only now, so an exec
/// that waits for a slot costs nothing but its wait.
int RunCommand(const SpawnOptions& spawn, ScopedSignalFd& signals, SuperviseOptions supervise) {
  const std::unique_ptr<Containment> containment = Containment::Create("exec");
  return RunContainedChild(kWho, spawn, signals, std::move(supervise), *containment);
}

/// Runs CMD on a pool of our own: there was none in the environment.
int ExecWithOwnPool(const ExecOptions& options, int slots, ScopedSignalFd& signals) {
  jobserver::ServerOptions server_options;
  server_options.slots = slots;
  // Pipe style: every GNU make reads `R,W` (make <= 4.3 dies on `fifo:`), and
  // CMD inherits the fds from us directly. It also spares a `make --version`.
  server_options.style = jobserver::ServerStyle::kPipe;
  auto server = jobserver::Server::Create(server_options);
  if (!server) {
    fprintf(stderr, "%s: cannot create a jobserver: %s\n", kWho, server.error().message.c_str());
    return kExitInfrastructure;
  }
  SpawnOptions spawn{options.command, server->ChildEnvironment(), server->InheritableFds()};
  const int code = RunCommand(spawn, signals, {options.grace, -1, nullptr});
  if (const jobserver::Audit audit = server->Shutdown(); !audit.clean()) {
    Warn("jobserver audit: " + audit.Describe());
  }
  return code;
}

/// Runs CMD on a slot of the pool (or, with no usable pool, on the paid
/// process's slot). While CMD runs on a token, the implicit slot may come
/// free: then we keep the slot and return the token.
int ExecOnSlot(const ExecOptions& options, Client* client, PoolId pool, ScopedSignalFd& signals) {
  Slot slot = AcquireSlot(client, pool, signals, options.always_token);
  if (slot.interrupted_by != 0) return 128 + slot.interrupted_by;
  if (slot.failed) return kExitInfrastructure;
  SuperviseOptions supervise{options.grace, -1, nullptr};
  if (slot.token.valid() && slot.claim && !slot.claim->held()) {
    supervise.extra_fd = slot.claim->ready_fd();
    supervise.on_ready = [&slot] {
      if (slot.claim->CollectWaiter()) slot.token.Return();
    };
  }
  SpawnOptions spawn;
  spawn.argv = options.command;
  return RunCommand(spawn, signals, std::move(supervise));
}

}  // namespace

int RunExec(const ExecOptions& options) {
  auto signals = ScopedSignalFd::BlockTerminationSignals();
  if (!signals) {
    fprintf(stderr, "%s: %s\n", kWho, signals.error().message.c_str());
    return kExitInfrastructure;
  }
  const auto env = jobserver::MakeflagsEnvironment::FromProcess();
  if (jobserver::DryRunRequested(env)) {
    printf("%s: dry run (make -n): would run: %s\n", kWho, JoinCommand(options.command).c_str());
    return kExitOk;
  }
  auto auth = jobserver::ChooseAuth(env);
  if (auth && auth->style == jobserver::AuthStyle::kNone && !auth->disabled) {
    return ExecWithOwnPool(options, OwnPoolSlots(options.jobs, env), *signals);
  }
  if (options.jobs > 0) Warn("-j is ignored: a jobserver pool is inherited from the environment");
  jobserver::ClientOptions client_options;
  client_options.use_implicit_slot = false;  // Accounted by ImplicitSlotClaim.
  auto client =
      auth ? Client::Join(*auth, client_options) : jobserver::Result<Client>(auth.error());
  if (!client) {
    // Advertised but unusable: make still paid this recipe one slot.
    Warn(client.error().message + "; running on the slot make paid for the recipe");
    return ExecOnSlot(options, nullptr, PoolIdOfUnusablePool(env), *signals);
  }
  return ExecOnSlot(options, &*client, client->pool_id(), *signals);
}

}  // namespace tierun
