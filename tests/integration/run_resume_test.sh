#!/usr/bin/env bash
# The results directory is the checkpoint: `tierun run` SIGKILLed at 20
# random moments and restarted each time, then left to finish, ends with the
# same results as one uninterrupted run. Every planned run has exactly one
# report.json; the journal never shows a run finishing twice or starting
# after it finished; every JSON file the runner wrote parses; the reports
# equal the uninterrupted ones but for timings; and every incomplete run
# directory the runner moved aside is still there. The agents are
# deterministic fake agents (examples/agents/fake-agent, 0.1-0.3 s each; one
# run is rate limited once and retried).
AGENT=$(cd "$(dirname "$0")/../../examples/agents" && pwd)/fake-agent
source "$(dirname "$0")/lib.sh"

[[ -x $AGENT ]] || fail "no fake agent at $AGENT"
# write_plan RESULTS
write_plan() {
  echo '[experiment]'
  echo 'name = "resume"'
  echo 'runs = 3'
  echo 'timeout = "30s"'
  echo "results = \"$1\""
  echo '[agent]'
  echo "command = $(toml_list "$AGENT")"
  echo '[retry]'
  echo 'attempts = 3'
  echo 'backoff = "100ms"'
  echo 'transient_exit_codes = [75]'
  for tier in T0 T1 T2; do
    echo '[[tier]]'
    echo "id = \"$tier\""
    echo 'subtests = ["00-baseline", "01-terse", "02-verbose"]'
  done
}
write_plan ref >ref.toml
write_plan resumed >resumed.toml

timeout 120 "$TIERUN" run ref.toml -j3 --progress none >ref.out 2>ref.err ||
  fail "the uninterrupted run failed: $(cat ref.err)"

dir=resumed/resume
interrupted=0
for ((session = 1; session <= 20; session++)); do
  journaled=0
  [[ ! -f $dir/events.jsonl ]] || journaled=$(wc -l <"$dir/events.jsonl")
  "$TIERUN" run resumed.toml -j3 --progress none >>resumed.out 2>>resumed.err &
  runner=$!
  sleep "0.$(printf '%02d' $((5 + RANDOM % 56)))"  # The random moment of the kill.
  kill -KILL "$runner" 2>/dev/null || true
  status=0
  { wait "$runner"; } 2>/dev/null || status=$?  # (bash would say "Killed")
  case $status in
    137) ((++interrupted)) ;;
    0) ;;
    *) fail "session $session: tierun run exited $status: $(tail -5 resumed.err)" ;;
  esac
  # The agents die with the runner (PR_SET_PDEATHSIG); their children (the
  # fake agent's sleep) might not, so end every group this session started.
  if [[ -f $dir/events.jsonl ]]; then
    tail -n +"$((journaled + 1))" "$dir/events.jsonl" |
      sed -n 's/.*"event":"start".*"pid":\([0-9]*\).*/\1/p' >agents
    while read -r pid; do kill -KILL -- "-$pid" 2>/dev/null || true; done <agents
  fi
done
timeout 120 "$TIERUN" run resumed.toml -j3 --progress none >>resumed.out 2>>resumed.err ||
  fail "the last session failed: $(tail -5 resumed.err)"
((interrupted > 0)) || fail "no session was interrupted"

python3 - "$dir" ref/resume resumed.err <<'PY' || fail "the resumed results are wrong (above)"
import json, os, re, sys
from collections import Counter
sys.path.insert(0, os.environ["TIERUN_TEST_LIB"])
from timeless_reports import compare_reports

dir, ref, stderr_path = sys.argv[1:]
problems = []
runs = [(t, s, r) for t in ("T0", "T1", "T2")
        for s in ("00-baseline", "01-terse", "02-verbose") for r in (1, 2, 3)]

# Exactly one report per planned run; moved-aside directories hold none.
reports = Counter()
for root, _, files in os.walk(dir):
    if "report.json" in files and re.search(r"/run_\d+[^/]*$", root):
        reports[os.path.relpath(root, dir)] += 1
expected = {f"{t}/{s}/run_{r:02d}" for t, s, r in runs}
if set(reports) != expected:
    problems.append(f"run reports in {sorted(set(reports) ^ expected)}: expected exactly the planned runs")

# The journal: whole lines; no run finishes twice or starts after finishing.
finished, starts, sessions = Counter(), Counter(), 0
with open(f"{dir}/events.jsonl") as journal:
    for number, line in enumerate(journal, 1):
        try:
            event = json.loads(line)
        except ValueError:
            problems.append(f"events.jsonl:{number}: not JSON: {line!r}")
            continue
        if event["event"] == "session":
            sessions += 1
        key = (event.get("tier"), event.get("subtest"), event.get("run"))
        if event["event"] == "finish":
            finished[key] += 1
            if finished[key] > 1:
                problems.append(f"events.jsonl:{number}: {key} finished twice")
        elif event["event"] == "start":
            if finished[key]:
                problems.append(f"events.jsonl:{number}: {key} started after it finished")
            if event["attempt"] == 1:
                starts[key] += 1

# Every JSON file parses. The one exception: result.json of an agent killed
# with its runner may be cut short -- the agent wrote it, not tierun.
for root, _, files in os.walk(dir):
    for name in files:
        if not name.endswith(".json"):
            continue
        if ".incomplete." in root and name.startswith("result"):
            continue
        try:
            json.load(open(os.path.join(root, name)))
        except ValueError as error:
            problems.append(f"{os.path.join(root, name)}: {error}")

# Nothing deleted: every directory moved aside is still there, and each run
# has at least one directory per session that started it.
moved = re.findall(r"moved aside: (\S+)", open(stderr_path).read())
problems += [f"{path} was reported moved aside but is gone" for path in moved if not os.path.isdir(path)]
for t, s, r in runs:
    parent = f"{dir}/{t}/{s}"
    kept = [d for d in os.listdir(parent) if re.fullmatch(rf"run_{r:02d}(\.incomplete\.\d+)?", d)]
    if len(kept) < starts[(t, s, r)]:
        problems.append(f"{t}/{s} run {r}: started in {starts[(t, s, r)]} sessions, {len(kept)} directories left")

# The same results as the uninterrupted run, but for timings.
compared = compare_reports(dir, ref, problems)
md = open(f"{ref}/report.md").read()
if not re.search(r"\d:\d\d|\d s\b|duration", md) and md != open(f"{dir}/report.md").read():
    problems.append("report.md differs from the uninterrupted run's")
junit = [re.sub(r' time="[^"]*"', "", open(f"{d}/junit.xml").read()) for d in (ref, dir)]
if junit[0] != junit[1]:
    problems.append("junit.xml differs from the uninterrupted run's (times aside)")

for problem in problems:
    print("FAIL:", problem, file=sys.stderr)
print(f"{sessions} sessions, {len(moved)} run directories moved aside, {compared} reports compared")
sys.exit(1 if problems else 0)
PY
echo "ok: $interrupted of 20 sessions SIGKILLed mid-run; resumed results equal the uninterrupted ones"
