#!/usr/bin/env bash
# A SIGKILLed runner's leftovers: two agents under `tierun run -j2` each start
# a worker with `setsid -f` and hold; the runner is SIGKILLed. The agents die
# with it (PR_SET_PDEATHSIG), the workers would not: before, they ran on into
# the next session (beside its agents, past the limit, writing into its run
# directories). Now the runner's guard ends its cgroup the moment the runner
# dies; and should the guard be killed too, the cgroup is left behind, named
# in the experiment directory, and the next session ends everything in it
# before it starts anything, and says so. Only a cgroup can do this:
# without one the test is skipped (exit 77).
source "$(dirname "$0")/../integration/lib.sh"

cat >agent <<'AGENT'
#!/bin/bash
set -eu
# The second session's agents pass at once.
[[ -z ${SECOND:-} ]] || exec "$PROBE" --log "$WORK/log" --id "second$TIERUN_RUN" --hold-ms 10
setsid -f "$PROBE" --log "$WORK/workers" --id "w$TIERUN_RUN" --hold-ms -1 \
  --notify "$WORK/notify" </dev/null >/dev/null 2>&1
exec "$PROBE" --log "$WORK/log" --id "first$TIERUN_RUN" --hold-ms -1
AGENT
chmod +x agent
export PROBE WORK
kill_workers() {
  [[ ! -f $WORK/workers ]] ||
    awk '$1 == "begin" { print $3 }' "$WORK/workers" | xargs -r kill -KILL 2>/dev/null || true
  cleanup
}
trap kill_workers EXIT

{
  echo '[experiment]'
  echo 'name = "leftovers"'
  echo 'runs = 2'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$WORK/agent")"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["only"]'
} >plan.toml

mkfifo notify
exec 7<>notify

# start_session N: a first session whose two agents have each started a
# worker; sets `runner`, `guard` (the runner's child in the runner's own
# cgroup: the agents are in boxes below it) and `workers`.
start_session() {
  : >workers
  "$TIERUN" run plan.toml -j2 --progress none >"out.$1" 2>"err.$1" &
  runner=$!
  read_notifications 7 2 >/dev/null
  grep -q '"containment":"cgroup v2' results/leftovers/events.jsonl || {
    kill -KILL "$runner"
    echo "skipped: no cgroup here: $(grep -o '"containment":"[^"]*"' results/leftovers/events.jsonl)"
    exit 77
  }
  guard=
  for child in $(pgrep -P "$runner"); do
    [[ $(cat "/proc/$child/cgroup") == "$(cat "/proc/$runner/cgroup")" ]] && guard=$child
  done
  [[ -n $guard ]] || fail "session $1: the runner has no guard process"
  workers=$(awk '$1 == "begin" { print $3 }' workers)
}

# 1. The runner alone SIGKILLed: its guard ends the workers at once.
start_session 1
kill -KILL "$runner"
wait "$runner" 2>/dev/null || true
wait_gone "$guard"
for worker in $workers; do
  is_dead "$worker" || fail "worker $worker outlived its SIGKILLed runner and the guard"
done
record=$(cat results/leftovers/.tierun-cgroup."$runner"-*)
[[ -n $record && ! -d $record ]] || fail "the guard left the killed session's cgroup ($record)"
echo "ok: the runner SIGKILLed with 2 detached workers: its guard ended both and removed the cgroup"

# 2. The runner and its guard SIGKILLed together: the workers survive, and
# the next session ends them before it starts anything.
start_session 2
kill -KILL "$runner" "$guard"
wait "$runner" 2>/dev/null || true
for worker in $workers; do
  is_dead "$worker" && fail "worker $worker died with the runner: nothing left to find"
done
ls results/leftovers/.tierun-cgroup.*-* >/dev/null || fail "the killed session left no record of its cgroup"
record=$(cat results/leftovers/.tierun-cgroup."$runner"-*)

SECOND=1 timeout 60 "$TIERUN" run plan.toml -j2 --progress none >out.3 2>err.3 ||
  fail "the third session failed: $(cat err.3)"
grep -q "ended what a killed session left in .*tierun-run-$runner-" err.3 ||
  fail "the third session did not say it ended the leftovers: $(cat err.3)"
for worker in $workers; do
  is_dead "$worker" || fail "worker $worker of the killed session outlived the next session"
done
[[ -z $(ls results/leftovers/.tierun-cgroup.* 2>/dev/null) ]] || fail "a record of a cgroup is left"
[[ ! -d $record ]] || fail "the killed session's cgroup $record is still there"
echo "ok: the runner and its guard SIGKILLed with 2 detached workers; the next session ended both before it started, and said so"
