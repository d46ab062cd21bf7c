#!/usr/bin/env bash
# An agent that plants things in the results tree for the runs after it
# (agents share the tree with the runner, and one may be hostile or buggy):
# - a run directory run_01 of the next run, with a FIFO as its stdout.log,
#   which would hold the launcher in open() for good: that run runs in its
#   own in-progress directory (.run_01.<random>), and when it completes, the
#   planted run_01 is moved aside (run_01.incomplete.1, FIFO and all) before
#   the run's own directory becomes run_01; the run passes;
# - a symlink from the last run's subtest directory to a directory outside:
#   tierun refuses to start it or write through the link, stops with exit 3
#   and says why, and nothing appears outside.
source "$(dirname "$0")/lib.sh"

mkdir outside
cat >agent.sh <<AGENT
#!/bin/sh
if [ "\$TIERUN_SUBTEST" = planter ]; then
  tier_dir=\$TIERUN_RUN_DIR/../..
  mkdir -p "\$tier_dir/fifo/run_01"
  mkfifo "\$tier_dir/fifo/run_01/stdout.log"
  ln -s "$WORK/outside" "\$tier_dir/linked"
fi
echo "agent \$TIERUN_SUBTEST"
exec "$PROBE" --log "$WORK/log" --id "\$TIERUN_SUBTEST" --hold-ms 0
AGENT
chmod +x agent.sh
cat >plan.toml <<PLAN
[experiment]
name = "planted"
runs = 1
results = "results"
[agent]
command = $(toml_list "$WORK/agent.sh")
[[tier]]
id = "A"
subtests = ["planter", "fifo", "linked"]
PLAN
dir=results/planted

status=0
timeout 60 "$TIERUN" run plan.toml -j1 --progress none >out 2>err || status=$?
[[ $status -ne 124 ]] || fail "tierun run hung: $(cat err)"
[[ $status -eq 3 ]] || fail "exit $status, expected 3: $(cat err)"
grep -q "linked.*symlink" err || fail "it did not say a symlink was refused: $(cat err)"
grep -q "stopping" err || fail "it did not say it stops: $(cat err)"
[[ -z $(ls -A outside) ]] || fail "written outside the results: $(ls -A outside)"

for subtest in planter fifo; do
  [[ $(json_get "$dir/A/$subtest/run_01/report.json" 'd["status"]') == passed ]] ||
    fail "$subtest did not pass"
done
[[ -f $dir/A/fifo/run_01/stdout.log && ! -p $dir/A/fifo/run_01/stdout.log ]] ||
  fail "the planted FIFO is still the log"
[[ $(cat "$dir/A/fifo/run_01/stdout.log") == "agent fifo" ]] || fail "the fifo run's log is wrong"
[[ -p $dir/A/fifo/run_01.incomplete.1/stdout.log ]] || fail "the planted run directory was not moved aside"
grep -q "fifo/run_01.incomplete.1: moved aside" err || fail "it did not say it moved the planted run aside: $(cat err)"
verify log 1 2
echo "ok: a planted run directory with a FIFO log moved aside at the commit, a planted symlink refused with exit 3; nothing outside"
