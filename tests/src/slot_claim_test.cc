#include "src/slot_claim_posix.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "src/paid_process_posix.h"
#include "tests/support/scoped_env.h"
#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

constexpr jobserver::PoolId kPool{1, 42};
constexpr ProcessKey kPaid{12345, 678};

/// Each test gets its own lock directory through XDG_RUNTIME_DIR.
class SlotClaimTest : public ::testing::Test {
 protected:
  test::ScopedTempDir dir_;
  test::ScopedEnv runtime_dir_{"XDG_RUNTIME_DIR", dir_.path().c_str()};
};

bool Readable(int fd, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

// The first claim on (pool, paid process) wins; a second one is refused.
TEST_F(SlotClaimTest, OnlyOneHolderPerPaidProcess) {
  auto first = ImplicitSlotClaim::Open(kPool, kPaid);
  auto second = ImplicitSlotClaim::Open(kPool, kPaid);
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_TRUE(first->TryClaim());
  EXPECT_TRUE(first->held());
  EXPECT_FALSE(second->TryClaim());
  EXPECT_FALSE(second->held());
}

// Another paid process, or another pool, has a slot of its own.
TEST_F(SlotClaimTest, DifferentKeysDoNotConflict) {
  auto first = ImplicitSlotClaim::Open(kPool, kPaid);
  auto other_process = ImplicitSlotClaim::Open(kPool, {kPaid.pid, kPaid.start_time + 1});
  auto other_pool = ImplicitSlotClaim::Open({1, 43}, kPaid);
  ASSERT_TRUE(first.ok() && other_process.ok() && other_pool.ok());
  EXPECT_TRUE(first->TryClaim());
  EXPECT_TRUE(other_process->TryClaim());
  EXPECT_TRUE(other_pool->TryClaim());
}

// The tierun processes of a pool that found no payer above share one slot;
// another pool's have one of their own.
TEST_F(SlotClaimTest, ProcessesWithNoPayerShareOneSlotPerPool) {
  auto first = ImplicitSlotClaim::Open(kPool, kNoPaidProcess);
  auto second = ImplicitSlotClaim::Open(kPool, kNoPaidProcess);
  auto other_pool = ImplicitSlotClaim::Open({1, 43}, kNoPaidProcess);
  ASSERT_TRUE(first.ok() && second.ok() && other_pool.ok());
  EXPECT_TRUE(first->TryClaim());
  EXPECT_FALSE(second->TryClaim());
  EXPECT_TRUE(other_pool->TryClaim());
  first->Release();
  EXPECT_TRUE(second->TryClaim());
}

// Destroying the holder frees the slot for the next claimant.
TEST_F(SlotClaimTest, ReleasedOnDestruction) {
  auto second = ImplicitSlotClaim::Open(kPool, kPaid);
  ASSERT_TRUE(second.ok());
  {
    auto first = ImplicitSlotClaim::Open(kPool, kPaid);
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(first->TryClaim());
    EXPECT_FALSE(second->TryClaim());
  }
  EXPECT_TRUE(second->TryClaim());
}

// A holder killed by SIGKILL cannot lose the slot: the kernel drops the lock,
// and a waiter's helper reports it on the ready fd.
TEST_F(SlotClaimTest, WaiterGetsSlotWhenHolderIsKilled) {
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t holder = fork();
  ASSERT_NE(holder, -1);
  if (holder == 0) {
    auto claim = ImplicitSlotClaim::Open(kPool, kPaid);
    const char held = claim.ok() && claim->TryClaim() ? 'y' : 'n';
    if (write(go[1], &held, 1) != 1) _exit(1);
    pause();  // Holds the slot until killed.
    _exit(0);
  }
  char held = 0;
  ASSERT_EQ(read(go[0], &held, 1), 1);
  ASSERT_EQ(held, 'y');
  auto waiter = ImplicitSlotClaim::Open(kPool, kPaid);
  ASSERT_TRUE(waiter.ok());
  ASSERT_FALSE(waiter->TryClaim());
  ASSERT_TRUE(waiter->StartWaiting().ok());
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  ASSERT_TRUE(Readable(waiter->ready_fd(), 30000));
  EXPECT_TRUE(waiter->CollectWaiter());
  EXPECT_TRUE(waiter->held());
  // The helper holds it for us now: nobody else gets it.
  auto third = ImplicitSlotClaim::Open(kPool, kPaid);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->TryClaim());
  close(go[0]);
  close(go[1]);
}

// A lock directory another user could write to is refused.
TEST_F(SlotClaimTest, RefusesAPublicLockDirectory) {
  const std::string lock_dir = dir_.path() + "/tierun";
  ASSERT_EQ(mkdir(lock_dir.c_str(), 0777), 0);
  ASSERT_EQ(chmod(lock_dir.c_str(), 0777), 0);
  auto claim = ImplicitSlotClaim::Open(kPool, kPaid);
  ASSERT_FALSE(claim.ok());
  EXPECT_EQ(claim.error().kind, jobserver::ErrorKind::kUnusable);
  EXPECT_NE(claim.error().message.find("not a private directory"), std::string::npos);
}

}  // namespace
}  // namespace tierun
