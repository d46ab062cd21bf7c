#!/usr/bin/env bash
# SIGTERM while tierun run's launcher thread is still starting an agent: the
# agent it then starts is stopped with the rest, at once (not after --grace,
# and not never), its run is left for the next session, and tierun exits 143.
#
# The launcher is held inside the start: the first run's agent plants a FIFO
# where the second run's stdout.log goes, and opening a FIFO for writing waits
# for a reader. No fd says that a thread has begun to wait in open(), so the
# test watches for it in /proc (wchan "wait_for_partner"), then signals, then
# opens the FIFO to let the start finish.
source "$(dirname "$0")/lib.sh"

cat >agent.sh <<AGENT
#!/bin/sh
if [ "\$TIERUN_SUBTEST" = first ]; then
  mkdir -p "\$TIERUN_RUN_DIR/../../second/run_01"
  exec mkfifo "\$TIERUN_RUN_DIR/../../second/run_01/stdout.log"
fi
exec "$PROBE" --log "$WORK/log" --id second --hold-ms -1
AGENT
chmod +x agent.sh
cat >plan.toml <<PLAN
[experiment]
name = "starting"
runs = 1
results = "results"
[agent]
command = $(toml_list "$WORK/agent.sh")
[[tier]]
id = "A"
subtests = ["first", "second"]
PLAN

timeout 60 "$TIERUN" run plan.toml -j1 --grace 3600 --progress none >out 2>err &
timeout=$!  # It passes SIGTERM on to tierun run, its child.

waiting_in_open() {
  local task runner
  runner=$(pgrep -P "$timeout") || return 1
  for task in /proc/"$runner"/task/*; do
    [[ $(cat "$task/wchan" 2>/dev/null) == wait_for_partner ]] && return 0
  done
  return 1
}
# until_true WHAT COMMAND...: polls COMMAND for up to 30 s. Used only for
# states no fd or exit announces (a thread waiting in open(), a line the
# runner journals while the test must not yet act).
until_true() {
  local what=$1
  shift
  for _ in $(seq 600); do
    "$@" && return 0
    kill -0 "$timeout" 2>/dev/null || fail "tierun run ended early, before $what: $(cat err)"
    sleep 0.05
  done
  fail "tierun run never got to $what"
}
until_true "waiting on the planted FIFO" waiting_in_open
dir=results/starting

kill -TERM "$timeout"
# Only once the stop is handled may the start go on: then the runner meets a
# started agent while stopping, the case under test.
until_true "handling the stop" grep -q '"event":"stop"' "$dir/events.jsonl"
exec {fifo}<"$dir/A/second/run_01/stdout.log"
status=0
wait "$timeout" || status=$?
exec {fifo}<&-
# 124 would be timeout's: the started agent was never stopped.
[[ $status -eq 143 ]] || fail "exit $status, expected 143: $(cat err)"

[[ $(json_get "$dir/A/first/run_01/report.json" 'd["status"]') == passed ]] ||
  fail "the first run has no passing report"
[[ ! -e $dir/A/second/run_01/report.json ]] || fail "the stopped run has a report: $(cat $dir/A/second/run_01/report.json $dir/events.jsonl err)"
grep -q '"subtest":"second".*"event":"start"' "$dir/events.jsonl" ||
  fail "the second run never started: the stop did not meet a start in progress"
grep -q '"subtest":"second".*"event":"interrupted"' "$dir/events.jsonl" ||
  fail "the second run was not recorded as interrupted"
# Signalled as soon as it began, the probe may not have logged its begin:
# the start event names the pid to check.
agent=$(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "start" and e["subtest"] == "second": print(e["pid"])' "$dir/events.jsonl")
wait_gone "$agent"
echo "ok: a stop during a start stopped the agent it started; exit 143"
