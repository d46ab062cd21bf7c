#!/usr/bin/env bash
# Agents that detach: each of 10 agents under `tierun run -j2` starts a worker
# with `setsid -f` (a new session, reparented to init: no group kill reaches
# it) that would run forever, waits until it runs, and exits. Before, 10
# workers ran at once beside the agents and outlived tierun. Now a slot
# covers everything its agent started: with a cgroup (when tierun may create
# one) and with the subreaper fallback (TIERUN_CONTAINMENT=subreaper), each
# worker is killed before its agent's slot goes back, and none survives.
source "$(dirname "$0")/../integration/lib.sh"

# Each agent first counts the workers alive (not zombies) and logs it: with a
# slot covering its agent's worker, only the other slot's worker can be.
cat >agent <<'AGENT'
#!/bin/bash
set -eu
alive=$(ps -eo stat=,args= | awk -v log="$LOG.workers" '$1 !~ /^Z/ && index($0, log)' | wc -l)
echo "$TIERUN_RUN $alive" >>"$LOG.alive"
mkfifo "$TIERUN_RUN_DIR/ready"
setsid -f "$PROBE" --log "$LOG.workers" --id "w$TIERUN_RUN" --hold-ms -1 \
  --notify "$TIERUN_RUN_DIR/ready" </dev/null >/dev/null 2>&1
read -r _ <"$TIERUN_RUN_DIR/ready"
exec "$PROBE" --log "$LOG" --id "a$TIERUN_RUN" --hold-ms 20
AGENT
chmod +x agent
export PROBE
kill_workers() {
  cat "$WORK"/log.*.workers 2>/dev/null | awk '$1 == "begin" { print $3 }' | xargs -r kill -KILL 2>/dev/null || true
  cleanup
}
trap kill_workers EXIT

{
  echo '[experiment]'
  echo 'name = "detach"'
  echo 'runs = 10'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$WORK/agent")"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["only"]'
} >plan.toml


# check MODE: one session; agents within the limit, never more than one
# other run's worker alive when an agent starts, and every worker dead by the
# time tierun exits, killed (it never logs its end).
check() {
  local mode=$1 log=$WORK/log.$1
  rm -rf results
  LOG=$log timeout 60 env "TIERUN_CONTAINMENT=$mode" "$TIERUN" run plan.toml -j2 --progress none \
    >"out.$mode" 2>"err.$mode" || fail "$mode: tierun run failed or hung: $(cat "err.$mode")"
  for run in $(seq 1 10); do
    worker=$(probe_pid "$log.workers" "w$run")
    [[ -n $worker ]] || fail "$mode: run $run started no worker"
    # Dead already: tierun ends a worker before its agent's slot goes back.
    # (Killed, it may stay a zombie: this machine's init reaps no orphan.)
    is_dead "$worker" || fail "$mode: worker $run (pid $worker) outlived tierun"
    grep -q "^end w$run " "$log.workers" && fail "$mode: worker $run ended by itself, not killed"
  done
  verify "$log" 2 10
  most=$(awk '$2 > most { most = $2 } END { print most + 0 }' "$log.alive")
  ((most <= 1)) || fail "$mode: an agent started with $most other runs' workers alive (limit 2)"
  for run in $(seq 1 10); do
    [[ $(json_get "results/detach/A/only/run_$(printf %02d "$run")/report.json" 'd["status"]') == passed ]] ||
      fail "$mode: run $run did not pass"
  done
}

check subreaper
grep -q '"containment":"child subreaper' results/detach/events.jsonl ||
  fail "subreaper: the journal does not say which mechanism held the agents"
check cgroup
if grep -q '"containment":"cgroup v2' results/detach/events.jsonl; then
  echo "ok: 10 detached workers under -j2: each killed before its slot went back, none left (subreaper and cgroup v2)"
else
  echo "ok: 10 detached workers under -j2: each killed before its slot went back, none left (subreaper; no cgroup here: $(grep -o '"containment":"[^"]*"' results/detach/events.jsonl))"
fi
