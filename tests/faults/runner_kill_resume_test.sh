#!/usr/bin/env bash
# `tierun run -j4` SIGKILLed at 100 random moments (0.05-0.6 s into each
# session) and resumed each time, then left to finish. The property must
# hold whatever the moment, so random moments are fine. Afterwards: every
# planned run has exactly one report.json, and it parses; no moved-aside
# directory holds one; no temporary (*.tmp.*) is left anywhere; no run was
# started again once it had finished (events.jsonl); the reports equal those
# of an uninterrupted run of the same plan in another directory, timings
# aside; and in every session, killed or not, at most 4 agents ran at once
# (the final one ran exactly the runs still pending).
#
# The plan is long enough (4000 runs of probes holding 0-20 ms) that most
# sessions are killed while agents run, not after the plan is done; the
# uninterrupted run goes on beside the interrupted ones, to save time.
source "$(dirname "$0")/../integration/lib.sh"

sessions=100
tiers=(T0 T1 T2 T3)
holds=(00 05 10 15 20)  # The sub-tests, named by how long their agent holds (ms).
runs=200
# Each session's probes log to logs/<session>, through the symlink `log`:
# the plan, which must not change between sessions, names only `log`.
# write_plan RESULTS LOG
write_plan() {
  echo '[experiment]'
  echo 'name = "kill"'
  echo "runs = $runs"
  echo 'timeout = "60s"'
  echo "results = \"$1\""
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$WORK/$2" --id '{tier}/{subtest}/{run}' \
    --hold-ms '{subtest}')"
  for tier in "${tiers[@]}"; do
    echo '[[tier]]'
    echo "id = \"$tier\""
    echo "subtests = $(toml_list "${holds[@]}")"
  done
}
write_plan ref logs/ref >ref.toml
write_plan resumed log >resumed.toml
planned=$((${#tiers[@]} * ${#holds[@]} * runs))
mkdir logs

# unfinished LOG: "ID PID" of each probe with a begin and no end in LOG.
unfinished() {
  awk '$1 == "begin" { open[$2] = $3 } $1 == "end" { delete open[$2] }
       END { for (id in open) print id, open[id] }' "$1"
}
# dead PID: the process has exited (gone, or a zombie: the killed agents are
# reparented to init, which may take its time to reap them).
dead() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
  [[ -z $state || $state == Z ]]
}
# wait_dead PID: fails after 30 s.
wait_dead() {
  local deadline=$((SECONDS + 30))
  until dead "$1"; do
    ((SECONDS < deadline)) || fail "process $1 still runs"
    sleep 0.01  # Polling a process that is not our child, as wait_gone does.
  done
}

timeout 300 "$TIERUN" run ref.toml -j4 --progress none >ref.out 2>ref.err &
ref_pid=$!

killed=0
for ((session = 1; session <= sessions; session++)); do
  ln -sfn "logs/$session" log
  delay=$(printf '0.%02d' $((5 + RANDOM % 56)))
  status=0
  # --foreground: timeout SIGKILLs tierun alone and waits for its death.
  # (Without it, timeout SIGKILLs its own group, itself included, and may be
  # gone before tierun is: the next session would find the results locked.)
  timeout --foreground -s KILL "$delay" "$TIERUN" run resumed.toml -j4 --progress none \
    >>resumed.out 2>>resumed.err || status=$?
  case $status in
    0) ;;
    124 | 137) ((++killed)) ;;
    *) fail "session $session: tierun run exited $status: $(tail -5 resumed.err)" ;;
  esac
  [[ -f logs/$session ]] || continue
  # The agents got SIGKILL with their runner (PR_SET_PDEATHSIG) and never
  # logged their end. Once they are dead, their ends go at the end of the
  # log, so the replay checks the limit over the whole session. A probe may
  # have written its end (or begin) between our read and its death: read
  # again once every unfinished one is dead, until nothing changes.
  unfinished "logs/$session" >open
  while :; do
    while read -r _ pid; do wait_dead "$pid"; done <open
    unfinished "logs/$session" >open.again
    cmp -s open open.again && break
    mv open.again open
  done
  while read -r id pid; do echo "end $id $pid 0" >>"logs/$session"; done <open
  verify "logs/$session" 4 "$(awk '$1 == "begin"' "logs/$session" | wc -l)" >/dev/null
done
((killed > sessions / 2)) || fail "only $killed of $sessions sessions were killed"

ln -sfn logs/final log
timeout 300 "$TIERUN" run resumed.toml -j4 --progress none >>resumed.out 2>>resumed.err ||
  fail "the last session failed: $(tail -5 resumed.err)"
dir=resumed/kill
pending=$(grep '"event":"session"' "$dir/events.jsonl" | tail -1 |
  sed -n 's/.*"pending_runs":\([0-9]*\).*/\1/p')
[[ -n $pending ]] || fail "no session event for the last session"
if ((pending > 0)); then
  verify logs/final 4 "$pending"
else
  [[ ! -s logs/final ]] || fail "the last session had nothing pending but ran agents"
fi

wait "$ref_pid" || fail "the uninterrupted run failed: $(cat ref.err)"
verify logs/ref 4 "$planned"

python3 - "$dir" ref/kill "$planned" <<'PY' || fail "the resumed results are wrong (above)"
import json, os, re, sys
from collections import Counter
sys.path.insert(0, os.environ["TIERUN_TEST_LIB"])
from timeless_reports import compare_reports

dir, ref, planned = sys.argv[1], sys.argv[2], int(sys.argv[3])
problems = []

# Exactly one report per planned run, in its run directory; none in a
# directory moved aside (that run was incomplete when it was moved); every
# JSON file the runner wrote parses; no temporary anywhere.
reports, moved, working = Counter(), 0, 0
for root, dirs, files in os.walk(dir):
    rel = os.path.relpath(root, dir)
    if ".incomplete." in rel:
        moved += rel.endswith(tuple("0123456789")) and ".incomplete." in os.path.basename(root)
        if "report.json" in files:
            problems.append(f"{rel}: a directory moved aside holds a report")
    elif re.fullmatch(r"T\d/\d\d/run_\d+", rel) and "report.json" in files:
        reports[rel] += 1
    for name in files:
        path = os.path.join(root, name)
        if ".tmp." in name and ".incomplete." not in rel:
            problems.append(f"{path}: a temporary left behind")
        elif name.endswith(".json"):
            try:
                json.load(open(path))
            except ValueError as error:
                problems.append(f"{path}: {error}")
if len(reports) != planned:
    problems.append(f"{len(reports)} run reports, expected {planned}")

# The journal: whole lines; no run finishes twice or starts after finishing.
finished, sessions = Counter(), 0
with open(f"{dir}/events.jsonl") as journal:
    for number, line in enumerate(journal, 1):
        try:
            event = json.loads(line)
        except ValueError:
            problems.append(f"events.jsonl:{number}: not JSON: {line!r}")
            continue
        key = (event.get("tier"), event.get("subtest"), event.get("run"))
        if event["event"] == "session":
            sessions += 1
            working += event["pending_runs"] > 0
        elif event["event"] == "finish":
            finished[key] += 1
            if finished[key] > 1:
                problems.append(f"events.jsonl:{number}: {key} finished twice")
        elif event["event"] == "start" and finished[key]:
            problems.append(f"events.jsonl:{number}: {key} started after it finished")

# The same results as the uninterrupted run, but for timings.
compared = compare_reports(dir, ref, problems)

for problem in problems[:20]:
    print("FAIL:", problem, file=sys.stderr)
print(f"{sessions} sessions ({working} with runs pending), {moved} run directories moved aside, "
      f"{compared} reports compared")
sys.exit(1 if problems else 0)
PY
echo "ok: $killed of $sessions sessions SIGKILLed, $pending runs left for the last one; resumed results equal the uninterrupted ones"
