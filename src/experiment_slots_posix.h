#pragma once

/// At most N agents (and judges) of one experiment at once, across every
/// `tierun run` process that works on it (`tierun run --experiment-slots N`).
///
/// CTest's resource allocation counts the tests of one ctest process: two
/// `ctest -j16 -R ...` on one build tree each hand out SLOTS, and together
/// run twice as many agents. So the slots also live beside the results,
/// where every runner of the experiment sees them: N files
///
///     <results>/.<name>.slots/slot.1 ... slot.N
///
/// each held with flock(LOCK_EX) by the runner whose agent uses it. flock
/// locks belong to an open file description, and the kernel drops them when
/// the last descriptor of it closes -- however its process ended, SIGKILL
/// included -- so a slot is never lost and no state is left but N empty
/// files.
///
/// A runner that finds every slot taken must not spin and must keep its
/// event loop free: for each slot it does not hold, a helper process blocks
/// in flock() on a descriptor it shares with us (a fork()ed copy of ours) and
/// writes the slot's number to a pipe once it holds it. The lock then
/// belongs to our descriptor, and the helper exits. Helpers die with us
/// (PR_SET_PDEATHSIG), and a helper stopped while it still waits takes no
/// slot with it: we unlock that slot's descriptor after it is gone.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "jobserver/error.h"
#include "jobserver/unique_fd.h"

namespace tierun {

class ExperimentSlots;

/// One slot, held until destroyed. Move-only, like jobserver::Token.
class ExperimentSlot {
 public:
  ExperimentSlot() = default;
  ExperimentSlot(ExperimentSlot&& other) noexcept;
  ExperimentSlot& operator=(ExperimentSlot&& other) noexcept;
  ~ExperimentSlot() { Return(); }

  bool valid() const { return owner_ != nullptr; }
  int index() const { return index_; }  ///< 0-based: slot.<index + 1>.
  /// Gives the slot back now (it is unlocked for every runner).
  void Return();

 private:
  friend class ExperimentSlots;
  ExperimentSlot(ExperimentSlots* owner, int index) : owner_(owner), index_(index) {}

  ExperimentSlots* owner_ = nullptr;
  int index_ = -1;
};

class ExperimentSlots {
 public:
  /// The directory of the slots of the experiment directory `experiment_dir`
  /// (results/<name>): results/.<name>.slots, beside it, as the setup lock.
  static std::string DirectoryFor(std::string experiment_dir);

  /// Creates `dir` and its files slot.1 .. slot.`slots` as needed and opens
  /// them. Errors: kInvalid (slots < 1), kUnusable (a slot file that is
  /// not a regular file, e.g. a symlink planted there), kSystem.
  static jobserver::Result<std::unique_ptr<ExperimentSlots>> Open(const std::string& dir,
                                                                  int slots);

  ExperimentSlots(const ExperimentSlots&) = delete;
  ExperimentSlots& operator=(const ExperimentSlots&) = delete;
  /// Stops the helpers; slots still held go back as their files close.
  ~ExperimentSlots();

  int slots() const { return static_cast<int>(slots_.size()); }
  const std::string& directory() const { return dir_; }

  /// A slot that is ours now (one a helper took for us, or a free one);
  /// invalid when every slot is taken. Never blocks.
  ExperimentSlot TryTake();

  /// Every slot is taken and one is wanted: has a helper wait for each slot
  /// we do not hold (those already waiting go on). Returns the fd that turns
  /// readable when a helper ended, holding its slot for us or not (an epoll
  /// set of the helpers' pidfds); then call CollectWaiters().
  jobserver::Result<int> StartWaiting();
  /// Collects the helpers that ended: TryTake() hands out the slots they
  /// took first. kSystem when a helper ended without its slot.
  jobserver::Status CollectWaiters();
  /// No slot is wanted now: stops every helper and gives back the slots
  /// they took for us and no agent uses, so other runners get them.
  void StopWaiting();

  /// How many slots are ours now (in use, or taken by a helper for us).
  int held() const;

 private:
  /// kFree: not ours (unlocked). kInUse: locked, an ExperimentSlot has it.
  /// kTaken: locked by a helper for us, not handed out yet. kAwaited: a
  /// helper waits for it.
  enum class State { kFree, kInUse, kTaken, kAwaited };
  struct Slot {
    jobserver::UniqueFd fd;  ///< Our open file description of slot.K.
    State state = State::kFree;
    pid_t helper = -1;          ///< While kAwaited.
    jobserver::UniqueFd pidfd;  ///< The helper's, in epoll_, while kAwaited.
  };

  ExperimentSlots(std::string dir, std::vector<Slot> slots, jobserver::UniqueFd epoll);
  friend class ExperimentSlot;
  void Return(int index);
  void Unlock(Slot& slot);
  jobserver::Status StartHelper(int index);

  std::string dir_;
  std::vector<Slot> slots_;
  jobserver::UniqueFd epoll_;  ///< The helpers' pidfds.
  pid_t parent_ = -1;
};

}  // namespace tierun
