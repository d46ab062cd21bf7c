// `tierun serve -j N [--style S] -- CMD...`: a pool for everything CMD starts.

#include <stdio.h>
#include <unistd.h>

#include "src/commands.h"
#include "src/run_child.h"

namespace tierun {

int DefaultJobs() {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus > 0 ? static_cast<int>(cpus) : 1;
}

int RunServe(const ServeOptions& options) {
  auto signals = ScopedSignalFd::BlockTerminationSignals();
  if (!signals) {
    fprintf(stderr, "tierun serve: %s\n", signals.error().message.c_str());
    return kExitInfrastructure;
  }
  if (options.style == jobserver::ServerStyle::kFifo &&
      jobserver::ResolveAutoStyle() == jobserver::ServerStyle::kPipe) {
    Warn(
        "the make on PATH is older than 4.4 and cannot use a fifo: pool (it stops with "
        "\"invalid --jobserver-auth string\"); if CMD runs make, use --style pipe or auto");
  }
  jobserver::ServerOptions server_options;
  server_options.slots = options.jobs > 0 ? options.jobs : DefaultJobs();
  server_options.style = options.style;
  auto server = jobserver::Server::Create(server_options);
  if (!server) {
    fprintf(stderr, "tierun serve: cannot create the jobserver: %s\n",
            server.error().message.c_str());
    return kExitInfrastructure;
  }
  SpawnOptions spawn;
  spawn.argv = options.command;
  spawn.environment = server->ChildEnvironment();
  spawn.inherit_fds = server->InheritableFds();
  // CMD runs on our implicit slot: we paid for it by creating N-1 tokens.
  const int code = RunChild("tierun serve", spawn, *signals, {options.grace, -1, nullptr});
  const jobserver::Audit audit = server->Shutdown();
  if (options.print_audit || !audit.clean()) {
    fprintf(stderr, "tierun serve: jobserver audit (-j%d, %s): %s\n", server->slots(),
            jobserver::ServerStyleName(server->style()), audit.Describe().c_str());
  }
  return code;
}

}  // namespace tierun
