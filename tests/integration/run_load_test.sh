#!/usr/bin/env bash
# Load: 20,000 runs in 7 tiers of a 10 ms probe at -j16 on this 2-core
# machine. Nothing is lost (the verifier: every run once, never more than 16
# at once; a report per run; report.json counts 20,000), and the
# runner's memory stays flat: it takes room for the plan at the start (a slot
# of ~120 bytes per run for its outcome, the queue) and nothing more as runs
# finish; junit.xml is streamed a tier at a time. Its peak RSS at 20,000 runs
# is under 16 MiB and under twice that at 2,000 (measured: 4.6 and 7.9 MiB;
# keeping each run's record took 5.0 and 11.6).
source "$(dirname "$0")/lib.sh"

# write_load_plan FILE NAME RUNS_PER_SUBTEST: 7 tiers x 10 sub-tests.
write_load_plan() {
  {
    echo '[experiment]'
    echo "name = \"$2\""
    echo "runs = $3"
    echo 'results = "results"'
    echo '[agent]'
    echo "command = $(toml_list "$PROBE" --log "$WORK/$2.log" --id '{tier}/{subtest}/{run}' --hold-ms 10)"
    for tier in 0 1 2 3 4 5 6; do printf '[[tier]]\nid = "T%d"\nsubtests = 10\n' "$tier"; done
  } >"$1"
}

# run_load NAME RUNS_PER_SUBTEST: runs it, verifies it, prints the peak RSS (KiB).
run_load() {
  local name=$1 runs=$(($2 * 70))
  write_load_plan "$name.toml" "$name" "$2"
  /usr/bin/time -f %M -o "$name.rss" "$TIERUN" run "$name.toml" -j16 --progress none \
    >"$name.out" 2>"$name.err" || fail "$name: tierun run failed: $(tail -5 "$name.err")"
  # Not --expect-reached: whether 16 agents of 10 ms overlap on two busy
  # cores depends on the machine; other tests prove the limit is reached.
  verify "$name.log" 16 "$runs" >&2
  [[ $(find "results/$name" -path '*/run_*/report.json' | wc -l) -eq $runs ]] ||
    fail "$name: not $runs run reports"
  [[ $(json_get "results/$name/report.json" 'd["runs"]') -eq $runs ]] ||
    fail "$name: report.json does not count $runs runs"
  tail -1 "$name.rss"
}

# A sanitizer build forks slowly (ThreadSanitizer's vfork() is a fork() of
# its shadow memory): 7,000 runs there, to look for races and leaks under
# load, and no bound on a peak RSS that shadow memory makes meaningless.
if ((${TIERUN_TEST_SANITIZED:-0})); then
  run_load large 100 >/dev/null  # 7,000 runs
  echo "ok: 7,000 runs at -j16 in a sanitizer build, none lost, limit held"
  exit 0
fi
small=$(run_load small 29)    # 2,030 runs
large=$(run_load large 286)   # 20,020 runs
echo "peak RSS: $small KiB at 2,030 runs, $large KiB at 20,020 runs"
((large < 16 * 1024)) || fail "peak RSS $large KiB at 20,020 runs, over 16 MiB"
((large < 2 * small)) || fail "peak RSS grew from $small to $large KiB: twice or more"
echo "ok: 20,020 runs at -j16, none lost, limit held; peak RSS $large KiB"
