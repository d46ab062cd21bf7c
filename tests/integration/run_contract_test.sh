#!/usr/bin/env bash
# The agent contract beyond exit codes:
#  - retry_after_s in result.json pauses every launch, in every tier: no agent
#    starts while the pause lasts (events.jsonl), and the run is retried;
#  - a transient_stderr pattern makes a failure transient (retried, attempts 2);
#  - a judge decides pass and score through judgment.json, after the agent;
#  - a retried run's report counts the cost of every attempt;
#  - `tierun report DIR` rebuilds the reports identically;
#  - -j N under an inherited pool caps the agents (limit reached, never passed).
source "$(dirname "$0")/lib.sh"

cat >agent.sh <<'AGENT'
#!/usr/bin/env bash
# Behaviour by tier, on the first attempt; every attempt costs $0.01.
set -eu
out=$TIERUN_RUN_DIR/result.json
if [[ $TIERUN_ATTEMPT == 1 && $TIERUN_TIER == limited ]]; then
  echo '{"passed": false, "retry_after_s": 1.5, "cost_usd": 0.01}' >"$out"
  exit 1
fi
if [[ $TIERUN_ATTEMPT == 1 && $TIERUN_TIER == flaky ]]; then
  echo '{"cost_usd": 0.01}' >"$out"
  echo "fatal: Connection RESET by peer" >&2
  exit 1
fi
echo '{"score": 0.3, "cost_usd": 0.01}' >"$out"
AGENT
cat >judge.sh <<'JUDGE'
#!/usr/bin/env bash
# Fails the agent's own verdict: passes with score 0.9 only for sub-test "good".
set -eu
[[ -e $1/result.json ]] || exit 2
if [[ $TIERUN_SUBTEST == good ]]; then
  echo '{"passed": true, "score": 0.9}' >"$1/judgment.json"
else
  echo '{"passed": false, "score": 0.1}' >"$1/judgment.json"
fi
JUDGE
chmod +x agent.sh judge.sh

cat >plan.toml <<PLAN
[experiment]
name = "contract"
[agent]
command = ["$WORK/agent.sh"]
[retry]
attempts = 2
backoff = "50ms"
transient_stderr = ["connection reset"]
[[tier]]
id = "limited"
subtests = ["a"]
[[tier]]
id = "flaky"
subtests = ["a"]
[[tier]]
id = "other"
subtests = 6
[[tier]]
id = "judged"
subtests = ["good", "bad"]
judge = { command = ["$WORK/judge.sh", "{run_dir}"] }
PLAN

timeout 120 "$TIERUN" run plan.toml -j2 --progress none >out 2>err || fail "run failed: $(cat err)"
dir=results/contract
[[ $(json_get $dir/limited/a/run_01/report.json '"%s %s" % (d["attempts"], d["passed"])') == "2 True" ]] ||
  fail "limited: $(cat $dir/limited/a/run_01/report.json)"
[[ $(json_get $dir/flaky/a/run_01/report.json '"%s %s" % (d["attempts"], d["passed"])') == "2 True" ]] ||
  fail "flaky: transient_stderr not retried: $(cat $dir/flaky/a/run_01/report.json)"
[[ $(json_get $dir/flaky/a/run_01/report.json 'round(d["cost_usd"], 4)') == 0.02 ]] ||
  fail "flaky: the first attempt's cost is missing"
[[ $(json_get $dir/judged/good/run_01/report.json '"%s %s" % (d["passed"], d["score"])') == "True 0.9" ]] ||
  fail "judge: $(cat $dir/judged/good/run_01/report.json)"
[[ $(json_get $dir/judged/bad/run_01/report.json '"%s %s" % (d["passed"], d["score"])') == "False 0.1" ]] ||
  fail "judge: $(cat $dir/judged/bad/run_01/report.json)"

# No start, of any tier, while the pause lasted.
python3 - "$dir/events.jsonl" <<'PY' || fail "an agent started during the rate-limit pause"
import datetime, json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
def at(e): return datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
pauses = [e for e in events if e["event"] == "pause"]
assert len(pauses) == 1, pauses
begin = at(pauses[0]); end = begin + datetime.timedelta(seconds=pauses[0]["seconds"])
early = [e for e in events if e["event"] == "start" and begin < at(e) < end]
assert not early, early
later = [e for e in events if e["event"] == "start" and at(e) >= end]
assert later, "nothing started after the pause"
PY

# tierun report rebuilds the same reports from the run reports.
cp $dir/report.json report.before.json
cp $dir/report.md report.before.md
rm $dir/report.json $dir/report.md $dir/judged/report.json
"$TIERUN" report $dir >report.out || fail "tierun report failed"
cmp -s report.before.json $dir/report.json || fail "rebuilt report.json differs"
cmp -s report.before.md $dir/report.md || fail "rebuilt report.md differs"
[[ -e $dir/judged/report.json ]] || fail "tier report not rebuilt"
grep -q "^# Report: contract" report.out || fail "tierun report printed no report"

# -j 2 under a pool of 4: at most 2 agents, and 2 reached.
cat >capped.toml <<PLAN
[experiment]
name = "capped"
[agent]
command = ["$PROBE", "--log", "$WORK/capped.log", "--id", "{tier}-{subtest}", "--hold-ms", "150"]
[[tier]]
id = "T0"
subtests = 4
[[tier]]
id = "T1"
subtests = 4
PLAN
timeout 120 "$TIERUN" serve -j4 --audit -- "$TIERUN" run capped.toml -j2 --progress none \
  >capped.out 2>capped.err || fail "capped run failed: $(cat capped.err)"
expect_clean_audit capped.err 4
verify capped.log 2 8 --expect-reached
echo "ok: pause across tiers, transient stderr, judge, summed costs, tierun report, -j cap"
