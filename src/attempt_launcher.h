#pragma once

/// Starts attempts on a thread of its own, for the scheduler (docs/design.md
/// section 4.6).
///
/// vfork() suspends the thread that calls it until the child has exec'd, and
/// an attempt needs its run directory and two log files created first: in
/// the W1 profile (bench/README.md) that was half of the runner's own time
/// per agent, all of it on the event loop, with every other agent's reaping,
/// result reading and report writing waiting behind it. On a thread of its
/// own it overlaps with that work. The event loop keeps every decision --
/// which run starts, on which token -- and this thread only starts what it
/// is given, in order, and hands back the process or the error.
///
/// Children start from this thread, and PR_SET_PDEATHSIG follows the thread
/// that forked, not the process: the thread ends only in the destructor, once
/// the scheduler has reaped every child (a Subprocess still alive then is
/// killed and reaped by its own destructor).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "jobserver/error.h"
#include "jobserver/unique_fd.h"
#include "src/agent_process.h"
#include "src/subprocess_posix.h"

namespace tierun {

class AttemptLauncher {
 public:
  using Clock = std::chrono::steady_clock;

  /// An attempt that was started, or could not be.
  struct Started {
    uint64_t ticket = 0;
    jobserver::Result<Subprocess> process;
    Clock::time_point started;  ///< When its process began.
    std::string started_at;     ///< The same, in UTC (UtcNow()).
  };

  /// How an attempt is started: StartAttempt(), or in a test, StartAttempt()
  /// behind a hold that keeps the thread inside a start.
  using StartFunction = std::function<jobserver::Result<Subprocess>(const AttemptSpec&)>;

  /// kSystem when the eventfd or the thread cannot be created.
  static jobserver::Result<std::unique_ptr<AttemptLauncher>> Create(
      StartFunction start = StartAttempt);
  /// Ends the thread after the attempt it is starting, if any; attempts not
  /// started yet never are.
  ~AttemptLauncher();
  AttemptLauncher(const AttemptLauncher&) = delete;
  AttemptLauncher& operator=(const AttemptLauncher&) = delete;

  /// Queues an attempt to start (StartAttempt); returns its ticket.
  uint64_t Submit(AttemptSpec spec);
  /// Takes back the attempts not started yet, which now never will be: their
  /// tickets, in the order submitted. A pause or a stop withdraws them, so
  /// nothing starts after it but an attempt already being started.
  std::vector<uint64_t> Withdraw();
  /// Readable while started attempts wait to be taken.
  int ready_fd() const { return ready_.get(); }
  /// The attempts started, or failed to start, since the last call, in the
  /// order they were submitted.
  std::vector<Started> TakeStarted();

 private:
  AttemptLauncher(jobserver::UniqueFd ready, StartFunction start);
  void Loop();

  jobserver::UniqueFd ready_;  ///< An eventfd, counting what waits in started_.
  const StartFunction start_;
  std::mutex mutex_;
  std::condition_variable requested_;
  std::deque<std::pair<uint64_t, AttemptSpec>> requests_;  // Guarded by mutex_.
  std::vector<Started> started_;                           // Guarded by mutex_.
  bool stopping_ = false;                                  // Guarded by mutex_.
  uint64_t next_ticket_ = 1;                               ///< Used by the submitting thread only.
  std::thread thread_;
};

}  // namespace tierun
