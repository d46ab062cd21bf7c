#!/usr/bin/env bash
# An agent that leaves a grandchild behind: each of 4 agents, run 2 at a time
# under `tierun serve -j2 --audit`, starts a background process that would
# hold forever with the agent's stdout and stderr open, waits until it runs,
# and exits. tierun frees the slot when the agent exits (so runs 3 and 4
# start, and the session ends, although every grandchild would hold
# forever) and SIGKILLs what is left of the agent's process group, so no
# grandchild survives.
source "$(dirname "$0")/../integration/lib.sh"

# The agent: the grandchild (a probe in the agent's group, logging to its
# own log) notifies a FIFO in the run directory once it holds; the agent
# then logs its own begin/end through an exec'd probe, keeping its pid.
cat >agent <<'AGENT'
#!/bin/bash
set -eu
mkfifo "$TIERUN_RUN_DIR/ready"
"$PROBE" --log "$WORK/grandchildren" --id "g$TIERUN_RUN" --hold-ms -1 \
  --notify "$TIERUN_RUN_DIR/ready" &
read -r _ <"$TIERUN_RUN_DIR/ready"
exec "$PROBE" --log "$WORK/log" --id "a$TIERUN_RUN" --hold-ms 20
AGENT
chmod +x agent
export PROBE WORK
# Should the test fail because a grandchild survived, end it before leaving.
kill_grandchildren() {
  [[ ! -f $WORK/grandchildren ]] ||
    awk '$1 == "begin" { print $3 }' "$WORK/grandchildren" | xargs -r kill -KILL 2>/dev/null || true
  cleanup
}
trap kill_grandchildren EXIT

{
  echo '[experiment]'
  echo 'name = "grandchild"'
  echo 'runs = 4'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$WORK/agent")"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["only"]'
} >plan.toml

# Were the runner to wait for a grandchild (its exit, or EOF on its output),
# it would never end: the timeout is the failure.
timeout 60 "$TIERUN" serve -j2 --audit -- "$TIERUN" run plan.toml --progress none \
  >out 2>err || fail "tierun run failed or hung: $(cat err)"
expect_clean_audit err 2
verify log 2 4

for run in 1 2 3 4; do
  [[ $(json_get "results/grandchild/A/only/run_0$run/report.json" 'd["status"]') == passed ]] ||
    fail "run $run did not pass"
  grandchild=$(probe_pid grandchildren "g$run")
  [[ -n $grandchild ]] || fail "run $run started no grandchild"
  agent=$(probe_pid log "a$run")
  # (A grandchild that ended before this line has already been killed.)
  group=$(ps -o pgid= -p "$grandchild" | tr -d ' ' || true)
  [[ -z $group || $group == "$agent" ]] ||
    fail "grandchild $grandchild is in group $group, not in its agent's ($agent)"
  wait_gone "$grandchild"
  grep -q "^end g$run " grandchildren && fail "grandchild $run ended by itself, not killed"
  # Nothing at all of the agent's group is left.
  [[ -z $(pgrep -g "$agent" || true) ]] || fail "the group of agent $agent survives: $(pgrep -g "$agent")"
done
echo "ok: slots freed when the agents exited; every grandchild killed with its agent's group"
