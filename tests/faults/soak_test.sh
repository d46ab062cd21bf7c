#!/usr/bin/env bash
# The soak: SOAK_RUNS runs (default 200) of hostile agents (soak_agent.sh:
# detached workers, bounded fork bombs, huge or hostile result.json, SIGTERM
# ignored) under `tierun run -j4`, the runner SIGKILLed at SOAK_KILLS random
# moments (default 10) and resumed each time, then left to finish. The one
# promise must hold whatever an agent does:
#  - at most 4 agents at once across every session (one probe log, replayed
#    by tierun-verify-log; a killed session's agents get their end once dead);
#  - when an agent starts, at most 3 other runs of its session have a process
#    alive (workers and bombs count: a slot covers everything its agent
#    started), and none of a killed session (the next session ends them
#    first: only a cgroup can; without one that check is skipped);
#  - every planned run reported exactly once: one run_NN/report.json, none
#    in a directory moved aside, no run started again once finished;
#  - no process of the soak alive at the end, no cgroup of its sessions left;
#  - nothing written outside the results directory.
# Whether this machine can make cgroups is asked of tierun with
# TIERUN_CONTAINMENT unset, so a soak run with TIERUN_CONTAINMENT=subreaper
# on a machine that can is held to the cgroup checks (and fails them).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../integration/lib.sh"

runs=${SOAK_RUNS:-200}
kills=${SOAK_KILLS:-10}
[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 20 && runs % 20 == 0)) ||
  { echo "soak: SOAK_RUNS must be a positive multiple of 20 (4 tiers x 5 sub-tests), got '$runs'" >&2; exit 2; }
[[ $kills =~ ^[0-9]+$ ]] || { echo "soak: SOAK_KILLS must be a number, got '$kills'" >&2; exit 2; }
started=$SECONDS
mark=tierunsoak$$x$RANDOM$RANDOM
# The runners work in run/ (the plan, results/, TMPDIR); the test's own
# files (the probes' logs, the runners' output) are outside it.
mkdir -p logs pids run/tmp
export SOAK_MARK=$mark SOAK_LOGS=$WORK/logs PROBE
# Whatever tierun or an agent puts in TMPDIR lands where the snapshot sees it.
export TMPDIR=$WORK/run/tmp

# marked_processes: "PID SESSION" of every live (not zombie) process with the
# soak's marker in its arguments (this machine's init reaps no orphan, so a
# killed one may stay a zombie: that is dead).
marked_processes() {
  ps -eo pid=,stat=,args= | awk '
    BEGIN { mark = ENVIRON["SOAK_MARK"] ":" }
    $2 !~ /^Z/ && (at = index($0, mark)) {
      split(substr($0, at + length(mark)), field, ":")
      print $1, substr(field[1], 2)
    }'
}
# cgroup_mount: where the cgroup2 hierarchy is mounted, or nothing.
cgroup_mount() {
  awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") print $5; break } }' \
    /proc/self/mountinfo | head -1
}
# "${runner[@]}" FILE TIERUN...: writes "PID-START" of the runner to FILE
# (its cgroup is tierun-run-PID-START, START field 22 of /proc/PID/stat) and
# execs it; a pid alone could name another user's runner, reused.
runner=(bash -c 'read -ra stat <"/proc/$$/stat"; echo "$$-${stat[21]}" >"$0"; exec "$@"')
# session_cgroups: the cgroups of the soak's runners (pids/*).
session_cgroups() {
  local mount pid_file
  mount=$(cgroup_mount)
  [[ -n $mount ]] || return 0
  for pid_file in pids/*; do
    [[ -s $pid_file ]] || continue
    find "$mount" -maxdepth 12 -type d -name "tierun-run-$(cat "$pid_file")" 2>/dev/null
  done
}
# At exit, pass or fail: nothing of the soak stays, not even the cgroups a
# failed soak found left (emptied, then removed below their boxes).
end_marked() {
  local cgroup
  marked_processes | awk '{ print $1 }' | xargs -r kill -KILL 2>/dev/null || true
  for cgroup in $(cd "$WORK" && session_cgroups); do
    echo 1 >"$cgroup/cgroup.kill" 2>/dev/null || true
    timeout 10 bash -c 'until grep -q "^populated 0" "$0/cgroup.events"; do sleep 0.05; done' "$cgroup" || true
    find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  cleanup
}
trap end_marked EXIT

write_plan() {
  echo '[experiment]'
  echo "name = \"$1\""
  echo "runs = $2"
  echo 'timeout = "1s"'
  echo 'results = "results"'
  echo '[retry]'
  echo 'attempts = 1'
  echo '[agent]'
  echo "command = $(toml_list "$3")"
  for tier in $4; do
    echo '[[tier]]'
    echo "id = \"$tier\""
    echo 'subtests = 5'
  done
}
write_plan soak $((runs / 20)) "$here/soak_agent.sh" "T0 T1 T2 T3" >run/plan.toml
write_plan soak-containment 1 /bin/true "T0" >run/containment.toml
planned=$runs

# snapshot: everything in the runners' directory but the results, with
# types and sizes.
snapshot() {
  find run -path run/results -prune -o -printf '%y %s %p\n' | sort
}
snapshot >snapshot.before

# What this machine allows: a cgroup, or the child subreaper.
(cd run && env -u TIERUN_CONTAINMENT timeout -k 10 60 "${runner[@]}" ../pids/0 \
  "$TIERUN" run containment.toml -j1 --progress none >../containment.out 2>&1) ||
  fail "tierun run of a plan of one run failed: $(cat containment.out)"
if grep -q '"containment":"cgroup v2' run/results/soak-containment/events.jsonl; then
  cgroups=1
else
  cgroups=0
fi

# unfinished: "ID PID" of each probe with a begin and no end in the main log.
unfinished() {
  awk '$1 == "begin" { open[$2] = $3 } $1 == "end" { delete open[$2] }
       END { for (id in open) print id, open[id] }' logs/main
}
dead() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
  [[ -z $state || $state == Z ]]
}
wait_dead() {
  local deadline=$((SECONDS + 30))
  until dead "$1"; do
    ((SECONDS < deadline)) || fail "process $1 still runs"
    sleep 0.01  # Polling a process that is not our child, as wait_gone does.
  done
}
# end_killed_agents: a SIGKILLed runner's agents die with it
# (PR_SET_PDEATHSIG) without logging their end. Once every one is dead its
# end goes at the end of the log, so the replay spans every session. One may
# log between our read and its death: read again until nothing changes.
end_killed_agents() {
  touch logs/main
  unfinished >open
  while :; do
    while read -r _ pid; do wait_dead "$pid"; done <open
    unfinished >open.again
    cmp -s open open.again && break
    mv open.again open
  done
  while read -r id pid; do echo "end $id $pid 0" >>logs/main; done <open
}

reports() {
  find run/results/soak -path '*/run_[0-9]*/report.json' 2>/dev/null | grep -c '/run_[0-9]*/report.json$' || true
}

# run_session [DELAY_MS]: one `tierun run -j4`, SIGKILLed after DELAY_MS
# when given (--foreground: timeout SIGKILLs tierun alone and waits for its
# death), else given 240 s (then SIGTERM, and SIGKILL 10 s later: a runner
# that spins must not hold the soak). Returns 0 when it finished, 1 when it
# was killed.
session=0
run_session() {
  local status=0 limit=(-k 10 240)
  ((++session))
  export SOAK_SESSION=$session
  [[ -z ${1:-} ]] || limit=(--foreground -s KILL "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))")
  (cd run && timeout "${limit[@]}" "${runner[@]}" "../pids/$session" \
    "$TIERUN" run plan.toml -j4 --progress none >"../out.$session" 2>"../err.$session") || status=$?
  case $status in
    0) return 0 ;;
    124 | 137) [[ -n ${1:-} ]] || fail "session $session hung for 240 s: $(tail -5 "err.$session")" ;;
    *) fail "session $session: tierun run exited $status: $(tail -5 "err.$session")" ;;
  esac
  end_killed_agents
  return 1
}

# The kills, at random moments spread over the work left: a run holds a slot
# some 0.4 s on average, so what is left takes about LEFT x 100 ms under -j4.
killed=0
while ((killed < kills)); do
  left=$((planned - $(reports)))
  span=$((left * 100 / (kills - killed + 1) + 1))
  if run_session $((100 + (RANDOM * 32768 + RANDOM) % span)); then
    fail "the plan was done in session $session, after $killed of $kills kills"
  fi
  ((++killed))
done
run_session || fail "the last session did not finish"
seconds=$((SECONDS - started))

# Every check runs; each problem is written to `problems`, all shown at the end.
problem() { echo "FAIL: $*" >>problems; }
: >problems

# What held the sessions' agents. The cgroup checks apply when this machine
# can make cgroups, whatever the sessions used.
containment=$(grep -o '"containment":"[a-z]* [a-z0-9]*' run/results/soak/events.jsonl |
  cut -d'"' -f4 | sort -u | paste -sd, -)

# 1. At most 4 agents at once, across every session.
if verified=$("$VERIFY" logs/main --limit 4 2>&1); then
  most=$(sed -n 's/.*max concurrency \([0-9]*\).*/\1/p' <<<"$verified")
else
  most=over
  problem "the probe log, replayed: $(head -5 <<<"$verified")"
fi

# 2. What each agent saw alive as it started: at most the other 3 slots' runs
# of its session, and nothing of a killed session.
awk -v cgroups="$cgroups" '
  $4 > 3 { print "FAIL: " $1 " " $2 " (" $3 ") started with " $4 " other runs of its session alive, more than the 3 other slots of -j4" }
  $5 > 0 && cgroups { print "FAIL: " $1 " " $2 " (" $3 ") started with " $5 " runs of killed sessions alive" }' \
  logs/alive >seen
head -10 seen >>problems
for behaviour in normal detach bomb results stubborn; do
  grep -q " $behaviour " logs/alive || problem "no agent behaved '$behaviour'"
done

# 3. Every planned run reported exactly once.
python3 - run/results/soak "$planned" >figures <<'PY' || cat figures >>problems
import json, os, re, sys
from collections import Counter

dir, planned = sys.argv[1], int(sys.argv[2])
problems, reports, statuses, moved = [], Counter(), Counter(), 0
for root, dirs, files in os.walk(dir):
    rel = os.path.relpath(root, dir)
    moved += ".incomplete." in os.path.basename(root)
    if "report.json" not in files or rel.count("/") != 2:
        continue
    if re.fullmatch(r"T[0-3]/0[0-4]/run_\d+", rel):
        reports[rel] += 1
        statuses[json.load(open(os.path.join(root, "report.json")))["status"]] += 1
    else:
        problems.append(f"{rel}: a report outside a run directory (moved aside?)")
expected = {f"T{t}/0{s}/run_{r:02d}" for t in range(4) for s in range(5)
            for r in range(1, planned // 20 + 1)}
problems += [f"{run}: no report" for run in sorted(expected - set(reports))]
problems += [f"{run}: not a planned run" for run in sorted(set(reports) - expected)]
finished = Counter()
with open(f"{dir}/events.jsonl") as journal:
    for number, line in enumerate(journal, 1):
        event = json.loads(line)
        key = (event.get("tier"), event.get("subtest"), event.get("run"))
        if event["event"] == "finish":
            finished[key] += 1
            if finished[key] > 1:
                problems.append(f"events.jsonl:{number}: {key} finished twice")
        elif event["event"] == "start" and finished[key]:
            problems.append(f"events.jsonl:{number}: {key} started after it finished")
for problem in problems[:10]:
    print("FAIL:", problem)
print(f"{len(reports)} runs reported ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}), "
      f"{moved} run directories moved aside")
sys.exit(1 if problems else 0)
PY

# 4. No process of the soak alive; no cgroup of its sessions, nor a record
# of one, left.
marked_processes >alive.end
survivors=0
if ((!cgroups)); then
  # Without a cgroup nothing can find what a killed session detached.
  awk -v last="$session" '$2 == last' alive.end >alive.last
  survivors=$(($(wc -l <alive.end) - $(wc -l <alive.last)))
  mv alive.last alive.end
fi
[[ ! -s alive.end ]] ||
  problem "$(wc -l <alive.end) processes of the soak alive at the end (pid session): $(head -3 alive.end | tr '\n' ' ')"
left=$(session_cgroups)
[[ -z $left ]] || problem "cgroups of the soak's runners are left: $(head -3 <<<"$left" | tr '\n' ' ')"
records=$(ls -A run/results/soak | grep '^\.tierun-cgroup\.' | tr '\n' ' ' || true)
[[ -z $records ]] || problem "records of cgroups are left: $records"
ended=$(cat err.* | grep -c 'ended what a killed session left in' || true)
! grep -h 'could not end what a killed session left' err.* >could.not || problem "$(cat could.not)"

# 5. Nothing written outside the results directory.
snapshot >snapshot.after
diff snapshot.before snapshot.after >snapshot.diff ||
  problem "written outside the results directory: $(grep '^[<>]' snapshot.diff | head -5 | tr '\n' ' ')"
outside=$(find /tmp -maxdepth 3 -name "*$mark*" -not -path "$WORK/*" 2>/dev/null | head -3)
[[ -z $outside ]] || problem "written in /tmp: $outside"

if ((cgroups)); then
  how="agents held by $containment"
else
  how="agents held by $containment: no cgroup here, so the checks that killed sessions leave nothing were skipped ($survivors of their processes survived)"
fi
figures="sessions $session, kills $killed, runs $planned, max concurrency $most, leftovers ended $ended, seconds $seconds; $(tail -1 figures); $how"
if [[ -s problems ]]; then
  cat problems >&2
  fail "soak: $figures"
fi
echo "ok: soak: $figures"
