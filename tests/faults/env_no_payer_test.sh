#!/usr/bin/env bash
# `tierun exec` with no payer above and a pool that nobody serves runs one
# command at a time: it neither exceeds the pool nor waits for ever.
#  1. MAKEFLAGS=" -j2 --jobserver-auth=fifo:<gone>" and six background
#     `tierun exec` (children of this shell, and orphans whose parent has
#     ended): the pool is unusable, nobody paid them a slot.
#  2. A script under `tierun serve -j2` backgrounds six
#     `(wait for serve to end; tierun exec ...) &` and exits; serve audits
#     (drains) its pool and ends. With a FIFO the pool is gone; with a pipe
#     the execs hold its write end, so it never reaches end of file.
# Every exec then takes turns on the one slot shared by the pool's execs
# that found no payer (kNoPaidProcess), with a warning.
#
# Found by this test: case 1 and case 2 with a FIFO ran all six at once;
# case 2 with a pipe waited for ever for tokens that serve had drained.
source "$(dirname "$0")/../integration/lib.sh"

# Orphaned execs are not our jobs: lib.sh's cleanup would miss them.
kill_leftovers() {
  [[ -f pids ]] && xargs -r kill -KILL <pids 2>/dev/null || true
  cleanup
}
trap kill_leftovers EXIT

mkfifo done
exec {done_fd}<>done

# await_six NAME: each of the six wrote a line to `done`; 30 s turn a hang
# into a failure.
await_six() {
  if ! (read_notifications "$done_fd" 6 30 >/dev/null); then
    fail "$1: the execs hang (not all six ended within 30 s)"
  fi
}

# check NAME: the six ran one at a time, and said why.
check() {
  local verdict
  verdict=$("$VERIFY" "$1.log" --limit 1 --expect-count 6 2>&1) || fail "$1: $verdict"
  # Under `make check` a make is above the test: its recipe's slot is the one
  # shared then, which is bounded the same way and said differently.
  grep -qE "warning: no paying parent above|running on the slot make paid for the recipe" \
    "$1.err" || fail "$1: no warning: $(cat "$1.err")"
  echo "$1: $verdict"
}

# exec_probe NAME ID: one `tierun exec -- probe`, then a line to `done`.
# Both pids go to `pids` for kill_leftovers: an exec that hangs, and the
# shell that would wait to open `done` once nobody reads it.
exec_probe() {
  echo "$BASHPID" >>"$WORK/pids"
  "$TIERUN" exec -- "$PROBE" --log "$WORK/$1.log" --id "$2" --hold-ms 100 2>>"$WORK/$1.err" &
  echo $! >>"$WORK/pids"
  wait $!
  echo "$2" >"$WORK/done"
}

# 1. A FIFO that is gone, six execs started by this shell...
gone=" -j2 --jobserver-auth=fifo:$WORK/gone"
for i in 1 2 3 4 5 6; do
  MAKEFLAGS=$gone exec_probe children "$i" &
done
await_six children
check children
# ... and six whose parent has ended (reparented: no ancestor is a payer,
# whatever runs this test).
for i in 1 2 3 4 5 6; do
  (MAKEFLAGS=$gone exec_probe orphans "$i" &)
done
await_six orphans
check orphans

# 2. A script that leaves six execs behind, waiting for serve to end: serve
# ends them with everything else its command left (containment_posix.h),
# so none starts after the pool is gone and none waits for ever.
{
  echo "WORK=$WORK"
  declare -f exec_probe
  cat <<'SCRIPT'
serve=$PPID
for i in 1 2 3 4 5 6; do
  (
    tail -s 0.05 --pid="$serve" -f /dev/null
    exec_probe "$NAME" "$i"
  ) &
  echo $! >>"$WORK/left-$NAME"
done
SCRIPT
} >leave.sh
for style in fifo pipe; do
  NAME=left-$style timeout 30 "$TIERUN" serve -j2 \
    --style "$style" -- bash leave.sh 2>"serve-$style.err" ||
    fail "serve --style $style: $(cat "serve-$style.err")"
  for pid in $(cat "left-left-$style"); do
    is_dead "$pid" || fail "left-$style: a waiting exec ($pid) outlived serve"
  done
  [[ ! -e left-$style.log ]] || fail "left-$style: an exec ran after serve ended: $(cat "left-$style.log")"
  echo "left-$style: ok: the six waiting execs ended with serve; none ran, none waits"
done
echo "ok: no payer and an unusable, gone or drained pool: one at a time, no hang"
