#!/usr/bin/env bash
# The deadlock `tierun exec` must never cause: under make -j2, two recipes
# each start four `tierun exec` at once. make holds the only token (paid for
# the second recipe), so the pool is empty; in each recipe one exec runs on
# the recipe's implicit slot and three wait. When it ends, a waiter must take
# the freed implicit slot -- waiting for a token alone would wait forever.
source "$(dirname "$0")/lib.sh"

{
  echo 'all: burst1 burst2'
  echo 'burst%:'
  echo "	+for i in 1 2 3 4; do $TIERUN exec -- $PROBE --log $WORK/log --id \$@-\$\$i --hold-ms 20 & done; wait"
} >Makefile

timeout 60 make -j2 -s >out 2>err || fail "make -j2 deadlocked or failed: $(cat err)"
expect_no_match err 'jobserver|INTERNAL|warning' "make or tierun reported jobserver trouble"
verify log 2 8
echo "ok: 8 execs in 2 bursts under make -j2, no deadlock"
