// `tierun exec [-j N] [--token] -- CMD...`: GNU parallel's `sem`, on the
// jobserver. See the README's "How tierun exec finds its slot".

#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "jobserver/client.h"
#include "jobserver/server.h"
#include "src/commands.h"
#include "src/paid_process_posix.h"
#include "src/run_child.h"
#include "src/slot_claim_posix.h"

namespace tierun {
namespace {

using jobserver::Client;
using jobserver::Token;

constexpr const char* kWho = "tierun exec";

/// The slot CMD runs on: an explicit token, or the paid process's implicit
/// slot (claimed directly, or through the helper that waited for it).
struct Slot {
  Token token;
  std::optional<ImplicitSlotClaim> claim;
  int interrupted_by = 0;
};

std::string JoinCommand(const std::vector<std::string>& command) {
  std::string text;
  for (const std::string& word : command) text += (text.empty() ? "" : " ") + word;
  return text;
}

/// Opens the claim on the implicit slot of the process that was paid for us,
/// and takes it if free. nullopt when no paid process is known: then only
/// tokens may be used.
std::optional<ImplicitSlotClaim> ClaimImplicitSlot(const Client& client) {
  std::optional<ProcessKey> paid = FindPaidProcess(getpid());
  if (!paid) return std::nullopt;
  auto claim = ImplicitSlotClaim::Open(client.pool_id(), *paid);
  if (!claim) {
    Warn(claim.error().message + "; waiting for a token instead of the implicit slot");
    return std::nullopt;
  }
  claim->TryClaim();
  return std::move(*claim);
}

/// Waits for a token or the implicit slot, whichever comes first, or a
/// termination signal (then the slot is empty and interrupted_by is set).
Slot AcquireSlot(Client& client, ScopedSignalFd& signals, bool always_token) {
  Slot slot;
  if (!always_token) {
    if (std::optional<ImplicitSlotClaim> claim = ClaimImplicitSlot(client)) {
      slot.claim.emplace(std::move(*claim));
    }
  }
  if (slot.claim && slot.claim->held()) return slot;
  if (slot.claim && !slot.claim->StartWaiting()) slot.claim.reset();
  while (true) {
    slot.token = client.TryAcquire();
    if (slot.token.valid()) return slot;
    if (client.pool_gone()) return slot;  // Client warned; run on what we were paid.
    const int claim_fd = slot.claim ? slot.claim->ready_fd() : -1;
    struct pollfd fds[3] = {
        {signals.fd(), POLLIN, 0}, {client.readiness_fd(), POLLIN, 0}, {claim_fd, POLLIN, 0}};
    if (poll(fds, 3, -1) == -1) continue;  // EINTR
    if ((fds[0].revents & POLLIN) && (slot.interrupted_by = signals.Read()) != 0) return slot;
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      if (slot.claim->CollectWaiter()) return slot;
      slot.claim.reset();  // The helper died: tokens only.
    }
  }
}

/// Runs CMD on a pool of our own: there was none in the environment.
int ExecWithOwnPool(const ExecOptions& options, ScopedSignalFd& signals) {
  jobserver::ServerOptions server_options;
  server_options.slots = options.jobs > 0 ? options.jobs : DefaultJobs();
  // Pipe style: every GNU make reads `R,W` (make <= 4.3 dies on `fifo:`), and
  // CMD inherits the fds from us directly. It also spares a `make --version`.
  server_options.style = jobserver::ServerStyle::kPipe;
  auto server = jobserver::Server::Create(server_options);
  if (!server) {
    fprintf(stderr, "%s: cannot create a jobserver: %s\n", kWho, server.error().message.c_str());
    return kExitInfrastructure;
  }
  SpawnOptions spawn{options.command, server->ChildEnvironment(), server->InheritableFds()};
  const int code = RunChild(kWho, spawn, signals, {options.grace, -1, nullptr});
  if (const jobserver::Audit audit = server->Shutdown(); !audit.clean()) {
    Warn("jobserver audit: " + audit.Describe());
  }
  return code;
}

/// Runs CMD on a slot of the pool we joined. While CMD runs on a token, the
/// implicit slot may come free: then we keep the slot and return the token.
int ExecInPool(const ExecOptions& options, Client& client, ScopedSignalFd& signals) {
  Slot slot = AcquireSlot(client, signals, options.always_token);
  if (slot.interrupted_by != 0) return 128 + slot.interrupted_by;
  SuperviseOptions supervise{options.grace, -1, nullptr};
  if (slot.token.valid() && slot.claim) {
    supervise.extra_fd = slot.claim->ready_fd();
    supervise.on_ready = [&slot] {
      if (slot.claim->CollectWaiter()) slot.token.Return();
    };
  }
  SpawnOptions spawn;
  spawn.argv = options.command;
  return RunChild(kWho, spawn, signals, std::move(supervise));
}

}  // namespace

int RunExec(const ExecOptions& options) {
  auto signals = ScopedSignalFd::BlockTerminationSignals();
  if (!signals) {
    fprintf(stderr, "%s: %s\n", kWho, signals.error().message.c_str());
    return kExitInfrastructure;
  }
  auto auth = jobserver::ChooseAuth(jobserver::MakeflagsEnvironment::FromProcess());
  if (auth && auth->dry_run) {
    printf("%s: dry run (make -n): would run: %s\n", kWho, JoinCommand(options.command).c_str());
    return kExitOk;
  }
  if (auth && auth->style == jobserver::AuthStyle::kNone && !auth->disabled) {
    return ExecWithOwnPool(options, *signals);
  }
  jobserver::ClientOptions client_options;
  client_options.use_implicit_slot = false;  // Accounted by ImplicitSlotClaim.
  auto client =
      auth ? Client::Join(*auth, client_options) : jobserver::Result<Client>(auth.error());
  if (!client) {
    // Advertised but unusable: make still paid this recipe one slot.
    Warn(client.error().message + "; running on the implicit slot");
    SpawnOptions spawn;
    spawn.argv = options.command;
    return RunChild(kWho, spawn, *signals, {options.grace, -1, nullptr});
  }
  return ExecInPool(options, *client, *signals);
}

}  // namespace tierun
