#!/usr/bin/env bash
# Huge plans and huge plan files. A plan of runs = 100000000 x subtests =
# 10000 (10^12 runs; it was accepted, wrote plan.json, then aborted) is a
# plan error naming file:line:col, exit 2, nothing written; so is a 3 GB plan
# file (sparse), refused by its size. A plan.json made 3 GB in a results
# directory is refused the same way at resume and by `tierun report`.
# `tierun list` of a 1,000,000-run plan streams its lines: its peak RSS stays
# under 16 MiB (it built the whole text in memory).
source "$(dirname "$0")/../integration/lib.sh"

[[ -x /usr/bin/time ]] || { echo "SKIP: no /usr/bin/time to measure the peak RSS"; exit 77; }
# Address space capped at 1 GiB where no sanitizer reserves its shadow: a
# tierun that tried to hold 10^12 runs or a 3 GB file fails at once.
if ! grep -qa -e __asan_init -e __tsan_init "$TIERUN"; then ulimit -v $((1024 * 1024)); fi

# expect_plan_error EXPECTED_LINE COMMAND...: exit 2, the line on stderr.
expect_plan_error() {
  local expected=$1 status=0
  shift
  timeout 60 "$@" >out 2>err || status=$?
  ((status == 2)) || fail "$* exited $status, expected 2: $(head -c 2000 err)"
  grep -qxF -- "$expected" err || fail "$*: expected '$expected', got: $(head -c 2000 err)"
}

plan() { # plan FILE RUNS SUBTESTS
  {
    echo '[experiment]'
    echo 'name = "big"'
    echo "runs = $2"
    echo 'results = "results"'
    echo '[agent]'
    echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{tier}/{subtest}/{run}' --hold-ms 0)"
    echo '[[tier]]'
    echo 'id = "T0"'
    echo "subtests = $3"
  } >"$1"
}

plan huge.toml 100000000 10000
too_many="huge.toml:9:12: tier 'T0' brings the plan to 1000000000000 runs (sub-tests x runs, summed over tiers); tierun runs at most 1000000 in one plan"
expect_plan_error "$too_many" "$TIERUN" run huge.toml --progress none
[[ ! -e results ]] || fail "a refused plan wrote: $(find results | head)"
expect_plan_error "$too_many" "$TIERUN" list huge.toml

# A plan file of 3 GB, sparse: refused before a byte is read.
truncate -s 3G sparse.toml
expect_plan_error "sparse.toml: 3221225472 bytes, more than the 4 MiB tierun reads" \
  "$TIERUN" run sparse.toml --progress none
[[ ! -e results ]] || fail "a refused plan file wrote: $(find results | head)"

# plan.json of a real results directory, made 3 GB.
plan small.toml 1 '["a"]'
timeout 60 "$TIERUN" run small.toml -j1 --progress none >out 2>err || fail "small plan: $(cat err)"
verify log 1 1
truncate -s 3G results/big/plan.json
status=0
timeout 60 "$TIERUN" run small.toml -j1 --progress none >out 2>err || status=$?
((status == 2)) || fail "resume over a 3 GB plan.json exited $status, expected 2: $(cat err)"
grep -qF "results/big/plan.json: 3221225472 bytes, more than the 64 MiB tierun reads" err ||
  fail "resume over a 3 GB plan.json: $(cat err)"
expect_plan_error \
  "tierun report: results/big/plan.json: 3221225472 bytes, more than the 64 MiB tierun reads (is it a results directory of tierun run?)" \
  "$TIERUN" report results/big

# 1,000,000 runs, the most a plan may have: listed line by line.
plan million.toml 100 10000
/usr/bin/time -f %M -o rss timeout 60 "$TIERUN" list million.toml >list 2>err ||
  fail "tierun list of 1,000,000 runs failed: $(cat err)"
runs=$(grep -c '^run ' list)
((runs == 1000000)) || fail "tierun list printed $runs runs, expected 1000000"
grep -qxF 'tier T0 1000000 -' list || fail "no tier line: $(head -3 list)"
[[ $(tail -1 list) == "run T0/9999/100" ]] || fail "last line: $(tail -1 list)"
rss_kib=$(tail -1 rss)
[[ $rss_kib =~ ^[0-9]+$ ]] || fail "no peak RSS from /usr/bin/time: $(cat rss)"
bound_rss "tierun list" "$rss_kib" $((16 * 1024))
echo "ok: 10^12 runs and a 3 GB plan file are plan errors with nothing written; a 3 GB plan.json refused at resume and by tierun report; tierun list of 1,000,000 runs peaked at $rss_kib KiB"
