// `tierun serve -j N [--style S] -- CMD...`: a pool for everything CMD starts.

#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>

#include "src/commands.h"
#include "src/containment_posix.h"
#include "src/paid_process_posix.h"
#include "src/run_child.h"

namespace tierun {

int DefaultJobs() {
  // The CPUs we may run on (taskset, cgroup cpusets), not all of them.
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) return std::max(1, CPU_COUNT(&allowed));
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus > 0 ? static_cast<int>(cpus) : 1;
}

int OwnPoolSlots(int jobs, const jobserver::MakeflagsEnvironment& env) {
  if (jobs > 0) return jobs;
  return env.makeflags ? 1 : DefaultJobs();
}

/// --style auto: a style CMD itself can join, so that it pays for its
/// children from our pool. ninja joins only `fifo:` pools, from 1.13 on; GNU
/// make reads `fifo:` from 4.4 on and stops on it before ("invalid
/// --jobserver-auth string"). For anything else -- a script, cargo, ctest,
/// a ninja older than 1.13 that joins nothing but whose edges may run make --
/// the make on PATH decides, as jobserver::ResolveAutoStyle() does.
jobserver::ServerStyle AutoStyleFor(const std::string& program) {
  const std::string path = FindProgram(program);
  const std::string name = program.substr(program.rfind('/') + 1);
  if (name == "ninja" && ProgramVersionAtLeast(path, "", 1, 13)) {
    return jobserver::ServerStyle::kFifo;
  }
  if (name == "make" || name == "gmake") {
    return ProgramVersionAtLeast(path, "GNU Make ", 4, 4) ? jobserver::ServerStyle::kFifo
                                                          : jobserver::ServerStyle::kPipe;
  }
  return jobserver::ResolveAutoStyle();
}

namespace {

/// How long `tierun exec`s under serve get, once their commands were killed
/// at the end of the grace period, to give their tokens back and exit.
constexpr std::chrono::milliseconds kExecsEndAfterGrace{2000};

}  // namespace

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
  auto inherited = jobserver::ChooseAuth(jobserver::MakeflagsEnvironment::FromProcess());
  if (!inherited || inherited->style != jobserver::AuthStyle::kNone) {
    Warn(
        "a jobserver is already in the environment; tierun serve creates an independent pool, "
        "so the two limits add up (use tierun exec to share the existing one)");
  }
  jobserver::ServerOptions server_options;
  server_options.slots = options.jobs > 0 ? options.jobs : DefaultJobs();
  server_options.style = options.style == jobserver::ServerStyle::kAuto
                             ? AutoStyleFor(options.command.front())
                             : options.style;
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
  // Stopped by a signal, CMD's tree has the grace period to end; then the
  // commands of the `tierun exec`s in it are killed first (their cgroups are
  // below CMD's), so those execs give their tokens back before the rest of
  // the tree is killed; whatever is left when CMD ends is killed too.
  const std::unique_ptr<Containment> containment = Containment::Create("serve");
  SuperviseOptions supervise{options.grace, -1, nullptr};
  supervise.on_grace_end = [&containment] { containment->KillBelowBoxes(); };
  supervise.after_grace = kExecsEndAfterGrace;
  const int code =
      RunContainedChild("tierun serve", spawn, *signals, std::move(supervise), *containment);
  const jobserver::Audit audit = server->Shutdown();
  if (options.print_audit || !audit.clean()) {
    fprintf(stderr, "tierun serve: jobserver audit (-j%d, %s): %s\n", server->slots(),
            jobserver::ServerStyleName(server->style()), audit.Describe().c_str());
  }
  return code;
}

}  // namespace tierun
