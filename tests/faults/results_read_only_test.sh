#!/usr/bin/env bash
# The results disk turns read-only mid-run, as ext4 does on an I/O error with
# errors=remount-ro (a small ext4 image on a loop device, mounted by the
# test as root; skipped otherwise): tierun run stops launching, stops the
# agent still running, says why (EROFS, and that it stops), exits 3, keeps
# every finished run's report whole (no temporary left), and once the disk
# is writable again the same command resumes and runs each remaining run
# exactly once.
#
# Why not `mount -o remount,ro` of a tmpfs: the kernel refuses it (EBUSY)
# while any file on it is open for writing, and tierun holds its locks and
# events.jsonl open all session. A read-only bind mount stacked on top is
# no better: descriptors opened before it (tierun writes below a directory
# fd it opened at the start) still write through the old mount. ext4's
# trigger_fs_error, the kernel's own test hook, takes the whole filesystem
# read-only at once, open descriptors included, as a failing disk does.
source "$(dirname "$0")/../integration/lib.sh"

[[ $EUID -eq 0 ]] || { echo "skipped: mounting an ext4 image needs root"; exit 77; }
mkdir mnt
truncate -s 16M disk.img
mkfs.ext4 -q -F disk.img >mkfs.err 2>&1 || { echo "skipped: mkfs.ext4: $(cat mkfs.err)"; exit 77; }
mount -o loop,errors=remount-ro disk.img "$WORK/mnt" 2>mount.err ||
  { echo "skipped: cannot mount an ext4 image: $(cat mount.err)"; exit 77; }
# A failing test may leave tierun running on the disk: its group (timeout's)
# goes first, or the disk could not be unmounted.
tierun_pid=
trap '[[ -z $tierun_pid ]] || kill -KILL -- -"$tierun_pid" 2>/dev/null || true
      umount "$WORK/mnt" 2>/dev/null || true; cleanup' EXIT
trigger=/sys/fs/ext4/$(basename "$(findmnt -n -o SOURCE "$WORK/mnt")")/trigger_fs_error
[[ -w $trigger ]] || { echo "skipped: this kernel has no $trigger"; exit 77; }

# Runs 5 and 6, when $GATE is set (session 1 only: the plan stays the
# same), say so on $NOTIFY and wait for their own gate, $GATE.5 and
# $GATE.6; the others pass at once. Runs start in order, so the test turns
# the disk read-only while both slots hold a gated agent and runs 1-4 have
# their reports; a run 7 that starts after that shows tierun kept
# launching. Agents log to $SESSION_LOG, outside the results.
runs=8
cat >plan.toml <<PLAN
[experiment]
name = "ro"
runs = $runs
results = "$WORK/mnt/results"
[agent]
command = ["/bin/sh", "-c", "if [ {run} -eq 5 -o {run} -eq 6 ] && [ -n \"\$GATE\" ]; then exec \"\$0\" --log \"\$SESSION_LOG\" --id {tier}/{subtest}/{run} --hold-ms 0 --notify \"\$NOTIFY\" --gate \"\$GATE.{run}\"; fi; exec \"\$0\" --log \"\$SESSION_LOG\" --id {tier}/{subtest}/{run} --hold-ms 0", "$PROBE"]
[[tier]]
id = "T0"
subtests = ["a"]
PLAN
dir=mnt/results/ro
reports() { find "$dir" -path '*/run_*/report.json' | sort; }

# Held open read-write: probes never block opening them, every notify line
# is kept, and a gate reaches end of file when the test closes it.
mkfifo notify gate.5 gate.6
exec {notify_fd}<>notify {gate5_fd}<>gate.5 {gate6_fd}<>gate.6
# The test's FIFO ends must not leak into tierun: a gate it held would
# never reach end of file.
SESSION_LOG=$WORK/s1.log NOTIFY=$WORK/notify GATE=$WORK/gate timeout 60 "$TIERUN" run plan.toml \
  -j2 --progress none >s1.out 2>s1.err {notify_fd}>&- {gate5_fd}>&- {gate6_fd}>&- &
tierun_pid=$!
read_notifications "$notify_fd" 2 >gated
reports >before.reports
# Committed first: a journal aborted by the error drops what is only in
# memory, and losing runs 1-4 that way would be the disk's doing, not
# tierun's (which fsyncs only with --fsync).
sync -f "$WORK/mnt"
echo 1 >"$trigger"
! touch "$WORK/mnt/after-the-error" 2>/dev/null || fail "the disk is still writable after the error"
# Run 5 ends; its report cannot be written. Run 6 stays at its gate until
# tierun stops it: which of two ending agents tierun reaps first is not
# for the test to guess.
exec {gate5_fd}>&-
status=0
wait "$tierun_pid" || status=$?
tierun_pid=
[[ $status -ne 124 ]] || fail "tierun run hung on the read-only disk: $(cat s1.err)"
[[ $status -eq 3 ]] || fail "a read-only disk: exit $status, expected 3: $(cat s1.err)"
grep -q "Read-only file system" s1.err || fail "it did not say the disk is read-only: $(cat s1.err)"
grep -q "stopping" s1.err || fail "it did not say it stops: $(cat s1.err)"

reports >s1.reports
done1=$(wc -l <s1.reports)
# Run 5 ended on the read-only disk and run 6 was stopped: no report can
# be theirs, and no earlier one may be missing.
cmp -s before.reports s1.reports || fail "reports changed on the read-only disk: $(diff before.reports s1.reports)"
((done1 == 4)) || fail "$done1 runs finished before the gated ones, expected 4: $(cat s1.reports)"
while read -r report; do
  python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$report" ||
    fail "$report is not whole"
done <s1.reports
[[ -z $(find "$dir" -name '*.tmp.*') ]] || fail "temporaries left: $(find "$dir" -name '*.tmp.*')"
exec {gate6_fd}>&- {notify_fd}>&-
# Stopped: run 6 was SIGTERMed at its gate, so it never logged its end (it
# is gone: tierun reaped it before exiting). Its end goes at the end of the
# log: the replay then checks the limit with run 6 running to the last.
unfinished=$(awk '$1 == "begin" { open[$2] = $3 } $1 == "end" { delete open[$2] }
                  END { for (id in open) print id, open[id] }' s1.log)
[[ $unfinished == "T0/a/6 "* ]] || fail "expected run 6 alone stopped at its gate, found: $unfinished"
echo "end $unfinished 0" >>s1.log
started1=$(grep -c '^begin ' s1.log)
verify s1.log 2 "$started1"
# Stopped launching: the four runs, and the two that were running when it
# could not write, started; nothing after.
((started1 == done1 + 2)) || fail "$started1 agents started, $done1 finished: it kept launching"

# Writable again: unmounted and mounted anew, as after a repair (ext4 will
# not remount rw after an aborted journal).
umount "$WORK/mnt"
mount -o loop,errors=remount-ro disk.img "$WORK/mnt"
SESSION_LOG=$WORK/s2.log timeout 60 "$TIERUN" run plan.toml -j2 --progress none >s2.out 2>s2.err ||
  fail "resume failed: $(cat s2.err)"
[[ $(reports | wc -l) -eq $runs ]] || fail "after the resume, not $runs run reports"
# Nothing discarded: what runs 5 and 6 left (their logs) was moved aside.
[[ $(grep -c 'moved aside: .*/run_0[56]\.' s2.err) -eq 2 ]] ||
  fail "runs 5 and 6 were not moved aside: $(cat s2.err)"
[[ $(json_get "$dir/report.json" 'd["runs"]') -eq $runs ]] || fail "report.json does not count $runs runs"
verify s2.log 2 $((runs - done1))
# No run finished in the first session ran again.
while read -r report; do
  id=$(json_get "$report" '"%s/%s/%d" % (d["tier"], d["subtest"], d["run"])')
  ! grep -q "^begin $id " s2.log || fail "$id finished in session 1 and ran again"
done <s1.reports
[[ -z $(find "$dir" -name '*.tmp.*') ]] || fail "temporaries left after the resume"
echo "ok: a results disk turning read-only stopped tierun run after $done1 of $runs runs with exit 3; the resume ran the other $((runs - done1)) once each"
