#!/usr/bin/env bash
# SIGINT and SIGTERM reach `tierun run` in every phase, within a second:
#  1. While it waits for the setup lock (held here with flock(1), as another
#     runner holds it while it sets up): exit 130 (143), nothing set up.
#  2. While it waits for that lock again to rebuild the reports at the end
#     (taken here while its one agent waits at a gate): exit 130, the run's
#     report written, the reports left for the next runner.
#  3. During --dry-run of a plan of 900,000 runs (2-3 s to list): exit 130,
#     without the summary line of a dry run that went through.
# tierun says on stderr when it starts to wait for the lock; the test reads
# that line from a FIFO before it sends the signal. No sleeps.
source "$(dirname "$0")/../integration/lib.sh"

write_gated_plan plan.toml waits 1
lock=results/.waits.setup.lock
mkdir results
exec {lock_fd}>"$lock"
flock -x "$lock_fd"

# expect_prompt_exit PID SIGNAL STATUS WHAT: sends SIGNAL to PID, which must
# exit with STATUS within a second.
expect_prompt_exit() {
  local pid=$1 signal=$2 expected=$3 what=$4 started ended status=0
  started=$(date +%s.%N)
  kill "-$signal" "$pid"
  # Bounded, so that a runner deaf to the signal fails the test instead of
  # hanging it.
  timeout 10 tail -s 0.02 --pid="$pid" -f /dev/null ||
    fail "$what: SIG$signal: still running 10 s later"
  ended=$(date +%s.%N)
  wait "$pid" || status=$?
  [[ $status -eq $expected ]] || fail "$what: SIG$signal: exit $status, expected $expected"
  awk -v s="$started" -v e="$ended" 'BEGIN { exit !(e - s <= 1.0) }' ||
    fail "$what: SIG$signal: $(awk -v s="$started" -v e="$ended" 'BEGIN { print e - s }') s to exit, expected at most 1 s"
}

# wait_for_line FD REGEX: reads lines from FD until one matches (60 s at most).
wait_for_line() {
  local line
  while read -r -t 60 line <&"$1"; do
    echo "$line" >>waited.err
    [[ $line =~ $2 ]] && return 0
  done
  fail "no line matching '$2' came: $(cat waited.err)"
}

# 1. Waiting for the setup lock.
mkfifo err.fifo
for signal in INT TERM; do
  "${DEFAULT_SIGINT[@]}" "$TIERUN" run plan.toml -j1 --progress none >setup.out 2>err.fifo \
    {lock_fd}>&- &
  pid=$!
  exec {err_fd}<err.fifo
  wait_for_line "$err_fd" "waiting for .*\.waits\.setup\.lock"
  expect_prompt_exit "$pid" "$signal" $((128 + $(kill -l "$signal"))) "waiting for the setup lock"
  cat <&"$err_fd" >>waited.err
  exec {err_fd}<&-
  [[ ! -e results/waits ]] || fail "SIG$signal: a runner interrupted before its setup set something up"
done

# 2. Waiting for it again at the end: the agent holds at its gate while the
# test takes the lock, then passes.
flock -u "$lock_fd"
mkfifo notify gate
exec {notify_fd}<>notify {gate_fd}<>gate
"${DEFAULT_SIGINT[@]}" "$TIERUN" run plan.toml -j1 --progress none >end.out 2>err.fifo \
  {lock_fd}>&- {notify_fd}>&- {gate_fd}>&- &
pid=$!
exec {err_fd}<err.fifo
read_notifications "$notify_fd" 1 >/dev/null
flock -x "$lock_fd"
exec {gate_fd}>&-
wait_for_line "$err_fd" "waiting for .*\.waits\.setup\.lock"
expect_prompt_exit "$pid" INT 130 "waiting for the setup lock to rebuild the reports"
cat <&"$err_fd" >>waited.err
exec {err_fd}<&-
grep -q "the reports were not rebuilt" waited.err || fail "it did not say the reports were left: $(cat waited.err)"
[[ $(json_get results/waits/A/only/run_01/report.json 'd["status"]') == passed ]] ||
  fail "the run that finished has no report"
[[ ! -e results/waits/report.json ]] || fail "the reports were rebuilt without the setup lock"
exec {lock_fd}>&-

# 3. A long dry run. Its output is drained (counting the summary line) so
# that it never waits on a full pipe.
{
  echo '[experiment]'
  echo 'name = "big"'
  echo 'runs = 900'
  echo 'results = "results"'
  echo '[agent]'
  echo 'command = ["/bin/true", "{run_dir}"]'
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = 1000'
} >big.toml
mkfifo dry.fifo
"${DEFAULT_SIGINT[@]}" "$TIERUN" run big.toml --dry-run --progress none >dry.fifo 2>dry.err &
pid=$!
exec {dry_fd}<dry.fifo
read -r -t 60 first <&"$dry_fd" || fail "the dry run printed nothing"
[[ $first == "would run A/"* ]] || fail "the dry run printed: $first"
grep -c "nothing was started" <&"$dry_fd" >summaries &
expect_prompt_exit "$pid" INT 130 "a dry run of 900,000 runs"
wait $! || true
[[ $(cat summaries) -eq 0 ]] || fail "the interrupted dry run went through to its summary"
grep -q "dry run interrupted by signal 2" dry.err || fail "it did not say the dry run was interrupted: $(cat dry.err)"
echo "ok: SIGINT/SIGTERM end the wait for the setup lock (setup and final reports) and a 900,000-run dry run within 1 s, exit 130/143"
