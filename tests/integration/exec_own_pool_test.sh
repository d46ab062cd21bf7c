#!/usr/bin/env bash
# Without a pool in the environment, `tierun exec -j3 -- make` creates one of
# 3 slots for make (which is given no -j and joins it) and everything make
# starts: at most 3 probes at once, the limit reached, audit clean (exec
# warns only when a token went missing). Under a plain `make` (no -j: make
# runs serially), exec's own pool has 1 slot.
source "$(dirname "$0")/lib.sh"

mkdir inner
{
  echo 'all: $(addprefix job,1 2 3 4 5 6 7 8 9)'
  echo 'job%:'
  echo "	$PROBE --log $WORK/\$(LOG) --id \$@ --hold-ms 150"
} >inner/Makefile

timeout 120 "$TIERUN" exec -j3 -- make -s -C inner LOG=own.log >out 2>err ||
  fail "exec -j3 -- make failed: $(cat err)"
expect_no_match err 'audit|warning' "tierun exec reported trouble"
verify own.log 3 9 --expect-reached

{
  echo 'all:'
  echo "	+$TIERUN exec -- \$(MAKE) -s -C inner LOG=serial.log"
} >Makefile
timeout 120 make -s >out 2>err || fail "make failed: $(cat err)"
verify serial.log 1 9
echo "ok: exec's own pool of 3 held make to 3; under serial make, to 1"
