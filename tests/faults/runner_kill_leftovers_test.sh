#!/usr/bin/env bash
# A SIGKILLed runner's leftovers: two agents under `tierun run -j2` each start
# a worker with `setsid -f` and hold; the runner is SIGKILLed. The agents die
# with it (PR_SET_PDEATHSIG), the workers would not: before, they ran on into
# the next session (beside its agents, past the limit, writing into its run
# directories). Now the killed session's cgroup is left behind, named in the
# experiment directory, and the next session ends everything in it before it
# starts anything, and says so. Only a cgroup can do this: without one the
# test is skipped (exit 77).
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
is_dead() {
  [[ ! -e /proc/$1/stat ]] || [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]
}

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
"$TIERUN" run plan.toml -j2 --progress none >out.1 2>err.1 &
runner=$!
read_notifications 7 2 >/dev/null
grep -q '"containment":"cgroup v2' results/leftovers/events.jsonl || {
  kill -KILL "$runner"
  echo "skipped: no cgroup here: $(grep -o '"containment":"[^"]*"' results/leftovers/events.jsonl)"
  exit 77
}
kill -KILL "$runner"
wait "$runner" 2>/dev/null || true
workers=$(awk '$1 == "begin" { print $3 }' workers)
for worker in $workers; do
  is_dead "$worker" && fail "worker $worker died with the runner: nothing left to find"
done
ls results/leftovers/.tierun-cgroup.* >/dev/null || fail "the killed session left no record of its cgroup"

SECOND=1 timeout 60 "$TIERUN" run plan.toml -j2 --progress none >out.2 2>err.2 ||
  fail "the second session failed: $(cat err.2)"
grep -q "ended what a killed session left in .*tierun-run-$runner-" err.2 ||
  fail "the second session did not say it ended the leftovers: $(cat err.2)"
for worker in $workers; do
  is_dead "$worker" || fail "worker $worker of the killed session outlived the next session"
done
[[ -z $(ls results/leftovers/.tierun-cgroup.* 2>/dev/null) ]] || fail "a record of a cgroup is left"
[[ -z $(find /sys/fs/cgroup -maxdepth 6 -name "tierun-run-$runner-*" 2>/dev/null) ]] ||
  fail "the killed session's cgroup is still there"
echo "ok: the runner SIGKILLed with 2 detached workers; the next session ended both before it started, and said so"
