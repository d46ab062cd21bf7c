#!/usr/bin/env bash
# What a person sees. On a terminal (a pseudo-terminal from util-linux
# `script`), `--progress auto` draws the live view: escape sequences and
# "slots in use". Without a terminal it prints one plain line per finished
# run and no escapes. `--progress none` prints neither.
source "$(dirname "$0")/lib.sh"

# experiment NAME: NAME/plan.toml, 2 tiers x 2 sub-tests of probe agents.
experiment() {
  mkdir "$1"
  {
    echo '[experiment]'
    echo "name = \"$1\""
    echo 'results = "results"'
    echo '[agent]'
    echo "command = $(toml_list "$PROBE" --log "$WORK/$1.log" --id '{tier}-{subtest}' --hold-ms 100)"
    echo '[[tier]]'
    echo 'id = "T0"'
    echo 'subtests = 2'
    echo '[[tier]]'
    echo 'id = "T1"'
    echo 'subtests = 2'
  } >"$1/plan.toml"
}
ESC=$'\033['      # For grep -F.
ESC_RE=$'\033\\['  # For grep -E.

experiment tty
timeout 120 script -qefc "cd '$WORK/tty' && '$TIERUN' run plan.toml -j2 --progress auto" /dev/null \
  </dev/null >tty.out 2>&1 || fail "tierun run on a terminal failed: $(cat tty.out)"
grep -qF "$ESC" tty.out || fail "no escape sequence on the terminal: $(cat -v tty.out)"
grep -q 'slots in use: 2' tty.out || fail "no 'slots in use: 2' on the terminal: $(cat -v tty.out)"
grep -q 'T1 .* 2/2 .*done' tty.out || fail "the live view never showed T1 done: $(cat -v tty.out)"
verify tty.log 2 4

experiment plain
(cd plain && timeout 120 "$TIERUN" run plan.toml -j2 --progress auto >../plain.out 2>../plain.err) ||
  fail "tierun run without a terminal failed: $(cat plain.err)"
[[ $(grep -c 'run 1: passed' plain.err) -eq 4 ]] ||
  fail "expected 4 plain 'run 1: passed' lines: $(cat plain.err)"
expect_no_match plain.err "$ESC_RE|slots in use" "escapes or a live view without a terminal"
expect_no_match plain.out "$ESC_RE" "escapes on stdout without a terminal"
verify plain.log 2 4

experiment none
(cd none && timeout 120 "$TIERUN" run plan.toml -j2 --progress none >../none.out 2>../none.err) ||
  fail "tierun run --progress none failed: $(cat none.err)"
expect_no_match none.err "$ESC_RE|slots in use|run 1: passed" "--progress none printed progress"
expect_no_match none.out "$ESC_RE|slots in use|run 1: passed" "--progress none printed progress"
verify none.log 2 4
echo "ok: a live view on a terminal, plain lines without one, nothing with --progress none"
