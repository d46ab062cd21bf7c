#!/usr/bin/env bash
# `tierun run -j5`: five independent tiers (4 sub-tests x 3 runs each) and a
# sixth, T5, that depends on all five (2 sub-tests, 1 run). The agents are
# probes. The locked log must show at most 5 agents at once, the limit
# reached, all 62 runs once; round-robin: every tier's first agent began
# before any tier's second; T5 began only after every T0-T4 agent ended.
# The first wave of agents is held at a gate until all five have begun, so
# which agents form it depends on the scheduler alone, not on timing.
source "$(dirname "$0")/lib.sh"

mkfifo notify gate
{
  echo '[experiment]'
  echo 'name = "tiers"'
  echo 'runs = 3'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{tier}/{subtest}/{run}' \
    --hold-ms 100 --notify "$WORK/notify" --gate "$WORK/gate")"
  for tier in T0 T1 T2 T3 T4; do
    echo '[[tier]]'
    echo "id = \"$tier\""
    echo 'subtests = ["a", "b", "c", "d"]'
  done
  echo '[[tier]]'
  echo 'id = "T5"'
  echo 'subtests = ["x", "y"]'
  echo 'runs = 1'
  echo 'depends_on = ["T0", "T1", "T2", "T3", "T4"]'
} >plan.toml

exec {notify_fd}<>notify {gate_fd}<>gate
# The test's FIFO ends must not leak into tierun and the agents: a gate
# with a writer left open would never open.
timeout 120 "$TIERUN" run plan.toml -j5 --progress none >out 2>err {notify_fd}>&- {gate_fd}>&- &
run_pid=$!
read_notifications "$notify_fd" 5 >first_wave
# Every later agent finds plain files: nothing to say, no gate. Only then the
# first wave may go on (its agents see end-of-file on the gate).
: >notify.file && mv notify.file notify
: >gate.file && mv gate.file gate
exec {gate_fd}>&-
status=0
wait "$run_pid" || status=$?
[[ $status -eq 0 ]] || fail "tierun run exited $status: $(cat err)"
expect_no_match err 'warning|jobserver audit' "tierun run reported trouble"

verify log 5 62 --expect-reached
[[ $(cut -d/ -f1 first_wave | sort | tr '\n' ' ') == "T0 T1 T2 T3 T4 " ]] ||
  fail "the first wave was not one agent per tier: $(tr '\n' ' ' <first_wave)"
awk '
  $1 == "begin" { split($2, id, "/"); tier = id[1]; begins[tier]++
    if (tier == "T5") { if (!t5_first) t5_first = NR; next }
    if (begins[tier] == 1 && NR > last_first) last_first = NR
    if (begins[tier] == 2 && (!first_second || NR < first_second)) first_second = NR }
  $1 == "end" && $2 !~ /^T5\// { last_end = NR }
  END {
    if (first_second && first_second < last_first) {
      print "line " first_second ": a second agent of a tier began before line " last_first \
        ", the first agent of another tier"; exit 1 }
    if (t5_first < last_end) {
      print "line " t5_first ": T5 began before line " last_end ", the last end of T0-T4"; exit 1 }
  }' log >order.err || fail "$(cat order.err)"

dir=results/tiers
runs=$(find "$dir" -path '*/run_*/report.json' | wc -l)
[[ $runs -eq 62 ]] || fail "$runs run reports, expected 62"
for file in report.json report.md junit.xml; do
  [[ -s $dir/$file ]] || fail "no $dir/$file"
done
cases=$(grep -o '<testcase ' "$dir/junit.xml" | wc -l)
[[ $cases -eq 62 ]] || fail "junit.xml has $cases test cases, expected 62"
[[ $(json_get "$dir/report.json" 'd["runs"]') -eq 62 ]] || fail "report.json does not count 62 runs"
echo "ok: 62 runs in 6 tiers under -j5, round-robin, T5 after T0-T4, reports written"
