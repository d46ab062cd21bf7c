#!/usr/bin/env bash
# `make demo`: tierun's jobserver at work, with fake agents (no network).
#  1. make -j4 runs 12 `+tierun exec -- agent` recipes: make's pool limits them.
#  2. `tierun serve -j3` runs a script that starts 12 `tierun exec` at once.
# Each agent logs begin/end under a lock; tierun-verify-log replays the log
# and prints the highest number of agents that ever ran at once.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
tierun=$build/src/tierun
probe=$build/tests/tools/tierun-probe
verify=$build/tests/tools/tierun-verify-log
work=$(mktemp -d "${TMPDIR:-/tmp}/tierun-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "== 1. make -j4, 12 recipes '+tierun exec -- agent'"
{
  echo 'all: $(addprefix agent,01 02 03 04 05 06 07 08 09 10 11 12)'
  echo 'agent%:'
  echo "	+@$tierun exec -- $probe --log make.log --id \$@ --hold-ms 150"
} >Makefile
time make -j4 -s
"$verify" make.log --limit 4 --expect-count 12

echo
echo "== 2. tierun serve -j3 -- sh burst.sh   (12 background 'tierun exec' at once)"
cat >burst.sh <<SCRIPT
for i in \$(seq -w 1 12); do "$tierun" exec -- "$probe" --log serve.log --id "agent\$i" --hold-ms 150 & done
wait
SCRIPT
time "$tierun" serve -j3 --audit -- sh burst.sh
"$verify" serve.log --limit 3 --expect-count 12
