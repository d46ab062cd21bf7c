#!/usr/bin/env bash
# An agent leaves a writer behind (setsid: its own session, so neither its
# runner's death nor its process group's SIGKILL reaches it) that writes
#   {"passed": false, "score": 0.123, "cost_usd": 999}
# to "$TIERUN_RUN_DIR/result.json" by path each time it is poked. Session 1
# is SIGKILLed while that agent works; session 2 resumes and runs the run
# again, and its agent pokes the leftover writer once, now that its own run
# directory exists, waits until the writer has tried, and passes.
# Before, TIERUN_RUN_DIR was run_01 in both sessions, so the leftover wrote
# into session 2's run and its report said failed, score 0.123, cost 999.
# Now each attempt's directory has an unpredictable in-progress name
# (.run_01.<random>), moved aside on resume: the leftover's write finds
# nothing, and the report is the agent's own (passed, score 1, cost null).
# The writer is bounded (timeout 60) and killed at the end of the test.
#
# Run under the subreaper fallback, where the leftover outlives its killed
# session: with a cgroup, the next session ends it before it starts anything
# (faults.runner_kill_leftovers), and there would be nothing left to poke.
source "$(dirname "$0")/../integration/lib.sh"
export TIERUN_CONTAINMENT=subreaper

marker="tierun-leftover-writer-$$-$RANDOM"
trap 'pkill -KILL -f "$marker" || true; cleanup' EXIT

cat >agent.sh <<'AGENT'
#!/bin/sh
if [ -e "$WORK/session1" ]; then
  # The leftover: writes by the path it was given, whenever poked, and says
  # on ack whether the write found a directory.
  setsid timeout 60 sh -c '
    echo ready >"$1/notify"
    while read -r _ <"$1/poke"; do
      if echo "{\"passed\": false, \"score\": 0.123, \"cost_usd\": 999}" >"$2/result.json"; then
        echo wrote >"$1/ack"
      else
        echo missed >"$1/ack"
      fi
    done' "$MARKER" "$WORK" "$TIERUN_RUN_DIR" </dev/null >/dev/null 2>&1 &
  exec sleep 60  # Its own work, until its runner is SIGKILLed.
fi
echo poke >"$WORK/poke"
read -r outcome <"$WORK/ack"
echo "$outcome" >>"$WORK/outcomes"
AGENT
chmod +x agent.sh
{
  echo '[experiment]'
  echo 'name = "leftover"'
  echo 'runs = 1'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$WORK/agent.sh")"
  echo "env = { WORK = \"$WORK\", MARKER = \"$marker\" }"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["only"]'
} >plan.toml
dir=results/leftover/A/only

mkfifo notify poke ack
exec {notify_fd}<>notify
touch session1
"$TIERUN" run plan.toml -j1 --progress none >s1.out 2>s1.err {notify_fd}>&- &
runner=$!
read_notifications "$notify_fd" 1 >/dev/null  # The leftover writer is running.
kill -KILL "$runner"
wait "$runner" 2>/dev/null || true
rm session1

timeout 60 "$TIERUN" run plan.toml -j1 --progress none >s2.out 2>s2.err {notify_fd}>&- ||
  fail "session 2 failed: $(cat s2.err)"
report=$(json_get "$dir/run_01/report.json" '"%s %s %s" % (d["status"], d["score"], d["cost_usd"])')
[[ $report == "passed 1.0 None" ]] ||
  fail "session 2's run report says '$report', not its own agent's 'passed 1.0 None'"
[[ $(cat outcomes) == missed ]] ||
  fail "the leftover writer's write landed ($(cat outcomes)) in session 2's run directory"
[[ -d $dir/run_01.incomplete.1 && ! -e $dir/run_01.incomplete.1/report.json ]] ||
  fail "session 1's unfinished run was not moved aside"
[[ -z $(compgen -G "$dir/.run_01.*") ]] || fail "an in-progress directory is left: $(ls -a "$dir")"
pgrep -f "$marker" >/dev/null || fail "the leftover writer was gone before the end: the test proved nothing"
echo "ok: a leftover writer of a SIGKILLed session missed the next session's run: report 'passed 1.0 None'"
