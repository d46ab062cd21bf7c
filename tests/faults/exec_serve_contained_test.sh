#!/usr/bin/env bash
# What `tierun exec` and `tierun serve` leave behind. Each command below
# detaches a worker (`setsid -f`, a new session: no group kill reaches it).
#  1. `tierun exec -- CMD` ends normally: the worker is dead when exec has
#     exited (before, it ran on, on a slot given back); with a cgroup and as
#     a child subreaper.
#  2. `tierun exec` SIGKILLed while CMD and its worker run: CMD dies with exec
#     (PR_SET_PDEATHSIG), and the worker with the guard of exec's cgroup
#     (before, it ran on; under `serve -j2` that made 3 at once).
#  3. `tierun serve -j2 --grace 1 --audit -- script` stopped by SIGTERM, the
#     script's two `tierun exec`s running commands that ignore SIGTERM (the
#     execs' own grace is 10 s): at serve's grace end the commands are killed
#     first, the execs give their tokens back and exit, and the audit is
#     clean (before, serve SIGKILLed the execs: a token missing, the workers
#     running on); the script ignores SIGTERM too. Nothing of the tree is left.
# 2 and 3 need a cgroup (the subreaper cannot outlive its owner): without one
# they are skipped and said.
source "$(dirname "$0")/../integration/lib.sh"

cat >cmd <<'CMD'
#!/bin/bash
set -eu
setsid -f "$PROBE" --log "$WORK/workers" --id "w$1" --hold-ms -1 --notify "$WORK/notify" \
  </dev/null >/dev/null 2>&1
exec "$PROBE" --log "$WORK/log" --id "c$1" --hold-ms "${HOLD:--1}" ${IGNORE:+--ignore-sigterm}
CMD
chmod +x cmd
export PROBE WORK
kill_workers() {
  [[ ! -f $WORK/workers ]] ||
    awk '$1 == "begin" { print $3 }' "$WORK/workers" | xargs -r kill -KILL 2>/dev/null || true
  cleanup
}
trap kill_workers EXIT
mkfifo notify
exec 7<>notify
worker_of() { probe_pid workers "w$1"; }

# 1. A normal end.
HOLD=10 timeout 30 "$TIERUN" exec -j1 -- ./cmd 1 2>err.1 || fail "exec 1 failed: $(cat err.1)"
read_notifications 7 1 >/dev/null
is_dead "$(worker_of 1)" || fail "exec: the worker of a command that ended outlived tierun exec"
echo "ok: tierun exec: what CMD detached ended before exec exited"
HOLD=10 TIERUN_CONTAINMENT=subreaper timeout 30 "$TIERUN" exec -j1 -- ./cmd 5 2>err.5 ||
  fail "exec 5 failed: $(cat err.5)"
read_notifications 7 1 >/dev/null
is_dead "$(worker_of 5)" || fail "exec, subreaper: the worker of a command that ended outlived tierun exec"
echo "ok: tierun exec as a child subreaper: what CMD detached ended before exec exited"

# Which way holds here: a cgroup below ours, or the subreaper.
cgroup_here() {
  "$TIERUN" exec -j1 -- bash -c 'cat /proc/self/cgroup' | grep -q 'tierun-exec-'
}
if ! cgroup_here; then
  echo "skipped 2 and 3: no cgroup here (the subreaper cannot outlive a SIGKILLed tierun)"
  exit 0
fi

# 2. exec SIGKILLed while CMD and its worker run.
"$TIERUN" exec -j1 -- ./cmd 2 2>err.2 &
exec_pid=$!
read_notifications 7 1 >/dev/null
guard=
for child in $(pgrep -P "$exec_pid"); do
  [[ $(cat "/proc/$child/cgroup") == "$(cat "/proc/$exec_pid/cgroup")" ]] && guard=$child
done
[[ -n $guard ]] || fail "exec: no guard process beside CMD"
kill -KILL "$exec_pid"
wait "$exec_pid" 2>/dev/null || true
wait_gone "$guard"
is_dead "$(worker_of 2)" || fail "exec SIGKILLed: CMD's worker runs on"
echo "ok: tierun exec SIGKILLed: its guard ended what CMD detached"

# 3. serve stopped by SIGTERM, its execs' commands ignoring SIGTERM.
cat >script <<'SCRIPT'
#!/bin/bash
trap '' TERM  # Serve's grace runs out.
IGNORE=1 "$TIERUN" exec -- ./cmd 3 &
IGNORE=1 "$TIERUN" exec -- ./cmd 4 &
wait
SCRIPT
chmod +x script
export TIERUN
"$TIERUN" serve -j2 --grace 1 --audit --style pipe -- ./script >serve.out 2>serve.err &
serve_pid=$!
read_notifications 7 2 >/dev/null
started=$(date +%s%N)
kill -TERM "$serve_pid"
wait "$serve_pid" && fail "serve exited 0 after SIGTERM"
took=$((($(date +%s%N) - started) / 1000000))
((took >= 1000 && took < 1000 + 2000 + 1000)) || fail "serve took $took ms after SIGTERM (grace 1 s, 2 s for the execs)"
expect_clean_audit serve.err 2
for id in 3 4; do
  is_dead "$(worker_of "$id")" || fail "serve: the worker of exec $id runs on"
  is_dead "$(probe_pid log "c$id")" || fail "serve: command $id runs on"
done
echo "ok: tierun serve SIGTERMed: its execs' commands killed at the grace's end, every token back, nothing left ($took ms)"
