#!/usr/bin/env bash
# Many scoped runners share one results directory at once, as the tests of
# one experiment do under `ctest -j` (one test per tier, or per run):
#  1. `tierun list` prints the plan's experiment, tiers and runs exactly.
#  2. Five `tierun run --tiers Tk -j2`, let go at one instant on a results
#     directory that does not exist yet: all exit 0, one created plan.json,
#     four resumed it; the probes' log shows every run once, at most 2
#     agents per tier and 10 in all; report.json, rebuilt by each runner in
#     turn, counts every run, and so does `tierun report`.
#  3. The same with one `tierun run --runs TIER/SUBTEST/RUN -j1` per run (30
#     at once, into another --results directory).
#  4. A runner whose tier or run is locked by another stops with exit 2,
#     naming what is busy; so does a run of the whole plan.
#  5. --fail-on-failure judges a runner's own runs: the runner of a passing
#     tier exits 0 though another tier's failed runs share the directory.
# The runners wait on a FIFO each opened before the test lets go: when the
# test closes the last write end, they all see end-of-file and start
# together; no sleeps.
source "$(dirname "$0")/lib.sh"
here=$(pwd -P)  # What tierun's getcwd() says $WORK is.

{
  echo '[experiment]'
  echo 'name = "shared"'
  echo 'runs = 2'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{tier}/{subtest}/{run}' \
    --hold-ms 100)"
  for tier in T0 T1 T2 T3 T4; do
    echo '[[tier]]'
    echo "id = \"$tier\""
    echo 'subtests = ["a", "b", "c"]'
    [[ $tier != T4 ]] || echo 'depends_on = ["T0", "T1"]'
  done
} >plan.toml

"$TIERUN" list plan.toml >list.out 2>list.err || fail "tierun list failed: $(cat list.err)"
{
  echo "experiment shared $here/results/shared"
  echo 'tier T0 6 -'
  echo 'tier T1 6 -'
  echo 'tier T2 6 -'
  echo 'tier T3 6 -'
  echo 'tier T4 6 T0,T1'
  for tier in T0 T1 T2 T3 T4; do
    for subtest in a b c; do printf 'run %s/%s/1\nrun %s/%s/2\n' $tier $subtest $tier $subtest; done
  done
} >list.expected
diff list.expected list.out >&2 || fail "tierun list printed other lines (diff above)"
"$TIERUN" list plan.toml --results by-run | head -1 >list.results
[[ $(cat list.results) == "experiment shared $here/by-run/shared" ]] ||
  fail "tierun list --results: $(cat list.results)"
sed -n 's/^run //p' list.out >ids

# start_together NAME ARGS... (once per runner), then release_and_wait:
# each runner waits for end-of-file on the FIFO "gate", which it opened
# before the test lets go, then execs `tierun run plan.toml ARGS`.
open_gate() {
  rm -f gate
  mkfifo gate
  exec {gate_w}<>gate  # Read-write: neither this open nor the next waits.
  exec {gate_r}<gate
}
pids=()
names=()
start_together() {
  local name=$1
  shift
  (
    exec {gate_w}>&-
    read -r -u "$gate_r" _ || true
    exec {gate_r}<&-
    exec timeout 120 "$TIERUN" run plan.toml --progress none "$@" >"$name.out" 2>"$name.err"
  ) &
  pids+=($!)
  names+=("$name")
}
release_and_wait() {
  exec {gate_w}>&- {gate_r}<&-
  local i status failed=0
  for i in "${!pids[@]}"; do
    status=0
    wait "${pids[$i]}" || status=$?
    if [[ $status -ne 0 ]]; then
      echo "${names[$i]}: tierun run exited $status: $(cat "${names[$i]}.err")" >&2
      failed=1
    fi
  done
  ((failed == 0)) || fail "a concurrent runner failed (above)"
  pids=()
  names=()
}

# check_results DIR LIMIT RUNNERS: every run once in the log, at most LIMIT
# at once, and reported in DIR; the journal holds RUNNERS sessions.
check_results() {
  local dir=$1 limit=$2 runners=$3
  verify log "$limit" 30 --expect-ids ids
  [[ $(find "$dir" -path '*/run_*/report.json' | wc -l) -eq 30 ]] || fail "$dir: not 30 run reports"
  [[ $(json_get "$dir/report.json" 'd["runs"]') -eq 30 ]] ||
    fail "$dir/report.json, written by the last runner, does not count 30 runs"
  [[ $(grep -c '"event":"session"' "$dir/events.jsonl") -eq $runners ]] ||
    fail "$dir/events.jsonl does not hold $runners sessions"
  python3 -c 'import json, sys; [json.loads(line) for line in open(sys.argv[1])]' \
    "$dir/events.jsonl" || fail "$dir/events.jsonl has a line that is not JSON"
  [[ $(find "$dir" -name '*.tmp.*' | wc -l) -eq 0 ]] || fail "$dir: temporaries left"
  [[ $(find "$dir" -name '*.incomplete.*' | wc -l) -eq 0 ]] || fail "$dir: runs moved aside"
  "$TIERUN" report "$dir" >report.out 2>report.err || fail "tierun report failed: $(cat report.err)"
  grep -q '^Runs: 30/30 done' report.out || fail "tierun report: $(head -3 report.out)"
  [[ $(json_get "$dir/report.json" 'd["runs"]') -eq 30 ]] || fail "tierun report lost runs"
}

# 2. One runner per tier.
open_gate
for tier in T0 T1 T2 T3 T4; do start_together "$tier" --tiers "$tier" -j2; done
[[ ! -e results ]] || fail "a runner started before the gate opened"
release_and_wait
check_results results/shared 10 5
for tier in T0 T1 T2 T3 T4; do
  grep " $tier/" log >"$tier.log"
  verify "$tier.log" 2 6 --expect-reached
done
expect_no_match <(cat T?.err) 'moved aside|warning' "a runner moved runs aside or warned"
[[ $(grep -c '"resumed":false' results/shared/events.jsonl) -eq 1 ]] ||
  fail "not exactly one runner created the directory: $(grep session results/shared/events.jsonl)"

# 3. One runner per run, into another results directory.
mv log tiers.log
open_gate
while read -r id; do start_together "run-${id//\//-}" --results by-run --runs "$id" -j1; done <ids
release_and_wait
check_results by-run/shared 30 30
[[ $(grep -c '"resumed":false' by-run/shared/events.jsonl) -eq 1 ]] ||
  fail "not exactly one per-run runner created the directory"

# 4. Busy tiers, runs and directories: exit 2, naming them; nothing runs.
mv log runs.log
dir=results/shared
expect_busy() {
  local lock=$1 message=$2 status=0
  shift 2
  flock --shared "$lock" "$TIERUN" run plan.toml --progress none "$@" >busy.out 2>busy.err ||
    status=$?
  [[ $status -eq 2 ]] || fail "$* with $lock held exited $status, not 2: $(cat busy.err)"
  grep -qF "$message" busy.err || fail "$* with $lock held said: $(cat busy.err)"
}
rm -f "$dir/T2/b/run_01/report.json"
expect_busy "$dir/T2/.lock" "tier T2 of $here/$dir is in use by another tierun run" --tiers T2
expect_busy "$dir/T2/b/.run_01.lock" "run T2/b/1 of $here/$dir is in use" --runs T2/b/run_01
expect_busy "$dir/.lock" "a scoped tierun run (--tiers or --runs) is using $here/$dir"
[[ ! -e log ]] || fail "a refused runner started agents"
[[ -d $dir/T2/b/run_01 ]] || fail "a refused runner moved a run aside"

# 5. A failing tier beside a passing one.
cat >failing.toml <<PLAN
[experiment]
name = "failing"
[agent]
command = ["$PROBE", "--log", "$WORK/failing.log", "--id", "{tier}/{subtest}/{run}", "--hold-ms", "0"]
[[tier]]
id = "F0"
agent = { command = ["$PROBE", "--log", "$WORK/failing.log", "--id", "F0", "--exit", "1"] }
[[tier]]
id = "P0"
PLAN
status=0
"$TIERUN" run failing.toml --tiers F0 --fail-on-failure --progress none >f0.out 2>f0.err || status=$?
[[ $status -eq 1 ]] || fail "the failing tier's runner exited $status, not 1: $(cat f0.err)"
"$TIERUN" run failing.toml --runs P0/00/1 --fail-on-failure --progress none >p0.out 2>p0.err ||
  fail "the passing run's runner failed for another tier's failure: $(cat p0.err)"
echo "ok: 5 runners per tier and 30 per run shared one results directory; busy parts refused"
