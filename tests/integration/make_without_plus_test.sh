#!/usr/bin/env bash
# A recipe without '+' under make -j4 (make 4.3): make closes the jobserver
# fds for it. `tierun exec` must say how to fix it ("add '+'") and still run
# the command, on the slot make paid for the recipe: at most 4 at once.
source "$(dirname "$0")/lib.sh"

{
  echo 'all: $(addprefix job,1 2 3 4 5 6 7 8)'
  echo 'job%:'
  echo "	$TIERUN exec -- $PROBE --log $WORK/log --id \$@ --hold-ms 20"
} >Makefile

timeout 60 make -j4 -s >out 2>err || fail "make failed: $(cat err)"
[[ $(grep -c "mark the make recipe with '+'" err) -eq 8 ]] ||
  fail "expected 8 warnings naming '+', got: $(cat err)"
verify log 4 8

# Many execs in one recipe without '+' share the slot make paid for it: under
# make -j2 next to another job, never more than 2 at once.
{
  echo 'all: burst plain'
  echo 'burst:'
  echo "	for i in 1 2 3 4; do $TIERUN exec -- $PROBE --log $WORK/burst.log --id \$@-\$\$i --hold-ms 20 & done; wait"
  echo 'plain:'
  echo "	$PROBE --log $WORK/burst.log --id \$@ --hold-ms 100"
} >Makefile
timeout 60 make -j2 -s >out 2>err || fail "make -j2 failed: $(cat err)"
verify burst.log 2 5
echo "ok: 8 warnings, 8 runs; a burst without '+' stayed on its one slot"
