#!/usr/bin/env bash
# The results directory fills up (a 256 KiB tmpfs, mounted by the test as
# root; skipped otherwise): tierun run stops launching, says why (ENOSPC, and
# that it stops), exits 3, keeps every finished run's report whole (no
# temporary left), and when space is back the same command resumes and runs
# each remaining run exactly once.
source "$(dirname "$0")/../integration/lib.sh"

[[ $EUID -eq 0 ]] || { echo "skipped: mounting a small tmpfs needs root"; exit 77; }
mkdir mnt
mount -t tmpfs -o size=256k tierun-full "$WORK/mnt" 2>mount.err ||
  { echo "skipped: cannot mount a tmpfs: $(cat mount.err)"; exit 77; }
trap 'umount "$WORK/mnt" 2>/dev/null || true; cleanup' EXIT

# Agents log to $SESSION_LOG (outside the full disk; one per session, from
# the environment so the plan stays the same), and print 2 KB.
cat >plan.toml <<PLAN
[experiment]
name = "full"
runs = 200
results = "$WORK/mnt/results"
[agent]
command = ["/bin/sh", "-c", "\"\$0\" --log \"\$SESSION_LOG\" --id {tier}/{subtest}/{run} --hold-ms 0 && head -c 2000 /dev/zero", "$PROBE"]
[[tier]]
id = "T0"
subtests = ["a"]
PLAN
dir=mnt/results/full
reports() { find "$dir" -path '*/run_*/report.json' | sort; }

status=0
SESSION_LOG=$WORK/s1.log "$TIERUN" run plan.toml -j2 --progress none >s1.out 2>s1.err || status=$?
[[ $status -eq 3 ]] || fail "a full disk: exit $status, expected 3: $(cat s1.err)"
grep -q "No space left on device" s1.err || fail "it did not say the disk is full: $(cat s1.err)"
grep -q "stopping" s1.err || fail "it did not say it stops: $(cat s1.err)"
reports >s1.reports
done1=$(wc -l <s1.reports)
((done1 > 0 && done1 < 200)) || fail "$done1 runs finished on the full disk: the test's sizes are off"
while read -r report; do
  python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$report" ||
    fail "$report is not whole"
done <s1.reports
[[ -z $(find "$dir" -name '*.tmp.*') ]] || fail "temporaries left: $(find "$dir" -name '*.tmp.*')"
started1=$(grep -c '^begin ' s1.log)
# The agent still running when the write failed was stopped (SIGTERM), maybe
# before it logged its end: it counts as running to the end of the log, which
# can only make the limit check stricter.
unfinished=$(awk '$1 == "begin" { open[$2] = $3 } $1 == "end" { delete open[$2] }
                  END { for (id in open) print "end", id, open[id], 0 }' s1.log)
(($(grep -c . <<<"$unfinished") <= 1)) || fail "more than one run stopped: $unfinished"
[[ -z $unfinished ]] || echo "$unfinished" >>s1.log
verify s1.log 2 "$started1"
# Stopped launching: beyond the finished runs, at most the two that were
# running (or being started) when the write failed.
((started1 <= done1 + 2)) || fail "$started1 agents started but $done1 finished: it kept launching"

mount -o remount,size=8m "$WORK/mnt"
SESSION_LOG=$WORK/s2.log "$TIERUN" run plan.toml -j2 --progress none >s2.out 2>s2.err ||
  fail "resume failed: $(cat s2.err)"
[[ $(reports | wc -l) -eq 200 ]] || fail "after the resume, not 200 run reports"
[[ $(json_get "$dir/report.json" 'd["runs"]') -eq 200 ]] || fail "report.json does not count 200 runs"
verify s2.log 2 $((200 - done1))
# No run finished in the first session ran again.
while read -r report; do
  id=$(json_get "$report" '"%s/%s/%d" % (d["tier"], d["subtest"], d["run"])')
  ! grep -q "^begin $id " s2.log || fail "$id finished in session 1 and ran again"
done <s1.reports
echo "ok: a full disk stopped tierun run after $done1 of 200 runs with exit 3; the resume ran the other $((200 - done1)) once each"
