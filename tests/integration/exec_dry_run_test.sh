#!/usr/bin/env bash
# Under `make -n`, make still runs '+' recipes; tierun exec sees the 'n' flag
# in MAKEFLAGS, prints what it would run and starts nothing.
source "$(dirname "$0")/lib.sh"

{
  echo 'all:'
  echo "	+$TIERUN exec -- $PROBE --log $WORK/log --id dry"
} >Makefile
make -n -s >out 2>err || fail "make -n failed: $(cat err)"
grep -q "dry run (make -n): would run: $PROBE" out || fail "no dry-run line: $(cat out)"
[[ ! -e log ]] || fail "the probe ran under make -n"
echo "ok: dry run started nothing"
