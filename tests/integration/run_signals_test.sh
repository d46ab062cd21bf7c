#!/usr/bin/env bash
# SIGINT, then SIGTERM, then SIGHUP (the terminal went away) to `tierun run
# --grace 1` under `tierun serve -j3 --audit`: one quick run has finished,
# three agents that ignore SIGTERM hold the three slots, a fourth waits.
# tierun stops launching, sends SIGTERM, SIGKILLs after the 1 s grace and
# exits 130 (143, 129) within grace + 1 s; every token comes back; the quick
# run's report and the experiment's reports are written, the interrupted runs
# have none, and the waiting one never starts.
source "$(dirname "$0")/lib.sh"

# The quick run's agent (tier A) goes first; three holders (tier B) take the
# slots, and the third can only start once the quick one has been reaped and
# its report written. So when all four have notified, that has happened.
write_plan() {
  echo '[experiment]'
  echo 'name = "signals"'
  echo 'runs = 1'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$PWD/log" --id '{subtest}' --hold-ms 0 \
    --notify "$WORK/notify")"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["quick"]'
  echo '[[tier]]'
  echo 'id = "B"'
  echo 'subtests = ["hold1", "hold2", "hold3", "hold4"]'
  echo "agent = { command = $(toml_list "$PROBE" --log "$PWD/log" --id '{subtest}' \
    --hold-ms -1 --ignore-sigterm --notify "$WORK/notify") }"
}

mkfifo notify
exec {notify_fd}<>notify
for signal in INT TERM HUP; do
  mkdir "$signal"
  cd "$signal"
  write_plan >plan.toml
  timeout 60 "${DEFAULT_SIGINT[@]}" "$TIERUN" serve -j3 --audit -- \
    "$TIERUN" run plan.toml --grace 1 --progress none >out 2>err {notify_fd}>&- &
  serve_pid=$!
  read_notifications "$notify_fd" 4 | sort >notified
  [[ $(tr '\n' ' ' <notified) == "hold1 hold2 hold3 quick " ]] ||
    fail "SIG$signal: notified by $(tr '\n' ' ' <notified), expected quick, hold1-3"
  holders=$(for id in hold1 hold2 hold3; do probe_pid log "$id"; done)
  runner=$(ps -o ppid= -p "$(probe_pid log hold1)" | tr -d ' ')
  started=$(date +%s.%N)
  kill -"$signal" "$runner"
  status=0
  wait "$serve_pid" || status=$?
  ended=$(date +%s.%N)
  expected=$((128 + $(kill -l "$signal")))
  [[ $status -eq $expected ]] || fail "SIG$signal: exit $status, expected $expected: $(cat err)"
  # Not before the grace (the holders ignore SIGTERM), and at most 1 s after.
  awk -v s="$started" -v e="$ended" 'BEGIN { exit !(e - s >= 1.0 && e - s <= 2.0) }' ||
    fail "SIG$signal: tierun run took $(awk -v s="$started" -v e="$ended" 'BEGIN { print e - s }') s to stop, expected 1-2 s"
  expect_clean_audit err 3

  dir=results/signals
  [[ -f $dir/A/quick/run_01/report.json ]] || fail "SIG$signal: the quick run has no report"
  [[ $(json_get "$dir/A/quick/run_01/report.json" 'd["status"]') == passed ]] ||
    fail "SIG$signal: the quick run did not pass"
  # An interrupted run keeps its in-progress directory, .run_01.<random>,
  # without a report; it never became run_01.
  for id in hold1 hold2 hold3; do
    in_progress=$(compgen -G "$dir/B/$id/.run_01.*" || true)
    [[ -d $in_progress && ! -e $in_progress/report.json && ! -e $dir/B/$id/run_01 ]] ||
      fail "SIG$signal: interrupted run $id has a report, or no in-progress directory"
  done
  [[ ! -e $dir/B/hold4/run_01 ]] && ! compgen -G "$dir/B/hold4/.run_01.*" >/dev/null ||
    fail "SIG$signal: hold4 was started after the signal"
  [[ -s $dir/report.json && -s $dir/report.md ]] || fail "SIG$signal: no experiment report"
  [[ $(json_get "$dir/report.json" 'd["runs"]') -eq 1 ]] || fail "SIG$signal: report.json counts other than 1 run"
  grep -q '"event":"stop"' "$dir/events.jsonl" || fail "SIG$signal: no stop event"

  # The holders were SIGKILLed, so they never logged their end. Once they are
  # gone, their ends go at the end of the log: the replay then checks the
  # limit over the whole session (and that nothing else was left open).
  # shellcheck disable=SC2086
  wait_gone $holders
  for id in hold1 hold2 hold3; do echo "end $id $(probe_pid log "$id") 0" >>log; done
  verify log 3 4 --expect-reached
  cd "$WORK"
done
echo "ok: SIGINT, SIGTERM and SIGHUP stop tierun run within grace + 1 s with exit 130/143/129, reports written, audit clean"
