#!/usr/bin/env bash
# The real GNU make that owns the pool is SIGKILLed mid-run: `make -j3` runs
# a probe and `+tierun run`, and dies while all three slots are busy. tierun
# keeps the pipe open itself (the fds make passed it), so it sees no end of
# file and needs none: it goes on with its implicit slot and the tokens that
# come back to the pipe, and never waits for the one make held, which died
# with make. It finishes every run once, with a whole report, exits 0, and
# the three slots are never exceeded, make's own job included.
#
# A subreaper (python3) starts make in a session of its own and collects
# every process of the tree, orphans included, so the test waits on their
# exits (not on time), learns tierun's status although its parent died, and
# knows nothing is left running.
source "$(dirname "$0")/../integration/lib.sh"

runs=9
write_gated_plan plan.toml orphan "$runs"

# `other` comes first, on make's own slot; tierun then costs make a token,
# and can read the last one: three at the gate, whatever the timing. The
# `+` recipe has no shell syntax, so make execs tierun itself: the slot
# make paid is tierun's implicit slot.
cat >Makefile <<MAKEFILE
all: other runner
other:
	$PROBE --log $WORK/log --id other --hold-ms 0 --notify $WORK/notify --gate $WORK/gate
runner:
	+$TIERUN run plan.toml --progress none
MAKEFILE

# reaper.py OUT CMD...: runs CMD in a new session as a child subreaper, so
# every process of CMD's tree is reaped here, its parent dead or not; writes
# "session PID" (before CMD starts: the test may read it any time after)
# and then "PID STATUS" for each process reaped, until none is left.
cat >reaper.py <<'PYTHON'
import ctypes, os, sys
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("reaper.py: prctl: " + os.strerror(ctypes.get_errno()))
out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
pid = os.fork()
if pid == 0:
    os.setsid()
    os.write(out, b"session %d\n" % os.getpid())
    os.execvp(sys.argv[2], sys.argv[2:])
while True:
    try:
        child, status = os.wait()
    except ChildProcessError:
        break
    os.write(out, b"%d %d\n" % (child, os.waitstatus_to_exitcode(status)))
PYTHON
# A tree left running (the reaper timed out) is killed as a whole: its
# session. Not once the reaper saw it end: the id could be reused.
tree_ended=false
kill_tree() {
  $tree_ended || [[ ! -s reaped ]] || pkill -KILL -s "$(awk '/^session/ { print $2 }' reaped)" || true
}
trap 'kill_tree; cleanup' EXIT

# Held open read-write: probes never block opening them, every notify line
# is kept, and the gate reaches end of file when the test closes it.
mkfifo notify gate
exec {notify_fd}<>notify {gate_fd}<>gate
# The test's FIFO ends must not leak into make, tierun and the agents: a gate
# they held would never reach end of file.
timeout 60 python3 reaper.py reaped make -j3 >make.out 2>make.err {notify_fd}>&- {gate_fd}>&- &
reaper_pid=$!
read_notifications "$notify_fd" 3 >at_gate
grep -qx other at_gate || fail "make's own job is not among the three: $(cat at_gate)"
make_pid=$(awk '/^session/ { print $2 }' reaped)
# tierun: the parent of its agent (field 4 of /proc/PID/stat), read while
# the agent waits at the gate.
agent_pid=$(probe_pid log "$(grep -vx other at_gate | head -1)")
tierun_pid=$(awk '{ print $4 }' "/proc/$agent_pid/stat")
[[ $(cat "/proc/$tierun_pid/comm") == tierun ]] || fail "pid $tierun_pid is not tierun"

kill -KILL "$make_pid"
# Later agents find a plain file: no gate. Only then the first three go on.
: >gate.file && mv gate.file gate
exec {gate_fd}>&-
status=0
wait "$reaper_pid" || status=$?
exec {notify_fd}>&-
[[ $status -ne 124 ]] || fail "a process still ran 60 s after make was killed: $(cat make.err)"
[[ $status -eq 0 ]] || fail "the reaper failed ($status): $(cat make.err)"
tree_ended=true

grep -qx "$make_pid -9" reaped || fail "make did not die of SIGKILL: $(cat reaped)"
grep -qx "$tierun_pid 0" reaped || fail "tierun did not exit 0: $(grep "^$tierun_pid " reaped) $(cat make.err)"
verify log 3 $((runs + 1))
for ((run = 1; run <= runs; run++)); do
  report=results/orphan/A/only/run_$(printf %02d "$run")/report.json
  [[ $(json_get "$report" 'd["status"]') == passed ]] || fail "run $run did not pass"
done
[[ $(json_get results/orphan/report.json 'd["runs"]') -eq $runs ]] || fail "report.json does not count $runs runs"
expect_no_match make.err 'tierun.*warning' "tierun warned although its pool still works"
echo "ok: make -j3 SIGKILLed with every slot busy: tierun finished its $runs runs within the limit and exited 0"
