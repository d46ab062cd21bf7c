#!/usr/bin/env bash
# Agents that write a lot: under `tierun serve -j2 --audit`, one agent writes
# 100 MiB to stdout and passes, another writes 100 MiB to stderr and fails
# (with transient_stderr set, so tierun looks at its stderr for a pattern).
# Every byte lands in stdout.log / stderr.log, and the runner's peak RSS
# stays under 64 MiB: it never holds an agent's output in memory.
source "$(dirname "$0")/../integration/lib.sh"

[[ -x /usr/bin/time ]] || { echo "SKIP: no /usr/bin/time to measure the peak RSS"; exit 77; }

size=$((100 * 1024 * 1024))
# The output: numbered lines, so a lost, repeated or reordered block shows.
cat >agent <<'AGENT'
#!/bin/bash
set -eu
"$PROBE" --log "$WORK/log" --id "$TIERUN_SUBTEST" --hold-ms 0
if [[ $TIERUN_SUBTEST == stdout ]]; then
  seq 1 100000000 | head -c "$SIZE"
else
  seq 1 100000000 | head -c "$SIZE" >&2
  exit 1
fi
AGENT
chmod +x agent
export PROBE WORK SIZE=$size

{
  echo '[experiment]'
  echo 'name = "big"'
  echo 'runs = 1'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$WORK/agent")"
  echo '[retry]'
  echo 'attempts = 2'
  echo 'backoff = "10ms"'
  echo 'transient_stderr = ["rate limit"]'
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["stdout", "stderr"]'
} >plan.toml

# /usr/bin/time measures tierun run alone (its children are waited for by
# tierun, not by time, so their RSS is not in the figure).
timeout 300 "$TIERUN" serve -j2 --audit -- \
  /usr/bin/time -f %M -o rss "$TIERUN" run plan.toml --progress none >out 2>err ||
  fail "tierun run failed: $(cat err)"
expect_clean_audit err 2
verify log 2 2

dir=results/big/A
# (seq ends on SIGPIPE once head has enough.)
{ seq 1 100000000 | head -c "$size" || true; } >expected
cmp expected "$dir/stdout/run_01/stdout.log" || fail "stdout.log is not the agent's 100 MiB"
cmp expected "$dir/stderr/run_01/stderr.log" || fail "stderr.log is not the agent's 100 MiB"
[[ $(json_get "$dir/stdout/run_01/report.json" 'd["status"]') == passed ]] ||
  fail "the stdout agent did not pass"
[[ $(json_get "$dir/stderr/run_01/report.json" 'd["status"], d["attempts"]') == "('failed', 1)" ]] ||
  fail "the stderr agent: $(json_get "$dir/stderr/run_01/report.json" 'd["status"], d["attempts"]'), expected failed after 1 attempt"

rss_kib=$(tail -1 rss)
[[ $rss_kib =~ ^[0-9]+$ ]] || fail "no peak RSS from /usr/bin/time: $(cat rss)"
bound_rss "tierun run" "$rss_kib" $((64 * 1024))
echo "ok: 100 MiB each on stdout and stderr kept whole; tierun run peaked at $rss_kib KiB; audit clean"
