#!/usr/bin/env bash
# Agents that leave huge files (sparse, `truncate -s 3G`): under
# `tierun serve -j2 --audit`, one agent's result.json and one judge's
# judgment.json are 3 GB. tierun reads neither (it read them whole: a 3 GB
# string, or an abort on bad_alloc): each is an invalid result, "<path>:
# 3221225472 bytes, more than the 1 MiB tierun reads", the run is recorded
# `error` with that reason, the run beside it passes, the runner's peak RSS
# stays under 64 MiB. Then a run's report.json made 3 GB: `tierun report`
# refuses it by its size, naming the file, and exits 3.
source "$(dirname "$0")/../integration/lib.sh"

[[ -x /usr/bin/time ]] || { echo "SKIP: no /usr/bin/time to measure the peak RSS"; exit 77; }

cat >agent <<'AGENT'
#!/bin/bash
set -eu
"$PROBE" --log "$WORK/log" --id "$TIERUN_TIER/$TIERUN_SUBTEST" --hold-ms 0
case $TIERUN_SUBTEST in
  huge) truncate -s 3G "$TIERUN_RUN_DIR/result.json" ;;
  *) echo '{"passed": true, "score": 0.5}' >"$TIERUN_RUN_DIR/result.json" ;;
esac
AGENT
cat >judge <<'JUDGE'
#!/bin/bash
set -eu
truncate -s 3G "$TIERUN_RUN_DIR/judgment.json"
JUDGE
chmod +x agent judge
export PROBE WORK

{
  echo '[experiment]'
  echo 'name = "huge"'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$WORK/agent")"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["huge", "fine"]'
  echo '[[tier]]'
  echo 'id = "J"'
  echo 'subtests = ["judged"]'
  echo "judge = { command = $(toml_list "$WORK/judge") }"
} >plan.toml

# Address space capped at 1 GiB where no sanitizer reserves its shadow: a
# runner that tried to read 3 GB fails at once instead of taking the memory.
if ! grep -qa -e __asan_init -e __tsan_init "$TIERUN"; then ulimit -v $((1024 * 1024)); fi
timeout 120 "$TIERUN" serve -j2 --audit -- \
  /usr/bin/time -f %M -o rss "$TIERUN" run plan.toml --progress none >out 2>err ||
  fail "tierun run failed ($?): $(cat err)"
expect_clean_audit err 2
verify log 2 3

dir=results/huge
# Read while the run is in progress, in its hidden directory (.run_01.<hex>).
for file in A/huge/@/result.json J/judged/@/judgment.json; do
  grep -qE "$dir/${file/@/\\.run_01\\.[0-9a-f]+}: 3221225472 bytes, more than the 1 MiB tierun reads" err ||
    fail "no invalid-result warning for $file: $(cat err)"
done
# expect RUN STATUS: the run's report.json says STATUS.
expect() {
  local actual
  actual=$(json_get "$dir/$1/run_01/report.json" 'd["status"], d["passed"]')
  [[ $actual == "$2" ]] || fail "$1: $actual, expected $2"
}
expect A/huge "('error', False)"
expect A/fine "('passed', True)"
expect J/judged "('error', False)"

rss_kib=$(tail -1 rss)
[[ $rss_kib =~ ^[0-9]+$ ]] || fail "no peak RSS from /usr/bin/time: $(cat rss)"
bound_rss "tierun run" "$rss_kib" $((64 * 1024))

# A run report read back by `tierun report` (or a resume) is bounded too.
truncate -s 3G "$dir/A/fine/run_01/report.json"
status=0
timeout 60 "$TIERUN" report "$dir" >report.out 2>report.err || status=$?
((status == 3)) || fail "tierun report exited $status, expected 3: $(cat report.err)"
grep -qF "$dir/A/fine/run_01/report.json: 3221225472 bytes, more than the 1 MiB tierun reads" \
  report.err || fail "tierun report: $(cat report.err)"
echo "ok: 3 GB result.json and judgment.json refused unread (runs recorded error); peak RSS $rss_kib KiB; a 3 GB report.json refused by tierun report; audit clean"
