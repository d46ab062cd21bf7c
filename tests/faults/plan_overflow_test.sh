#!/usr/bin/env bash
# Numbers that overflowed. timeout = "3000000h" overflowed the clock (every
# run timed out after 1 ms) and backoff likewise: now plan errors naming the
# key and the maximum, 8760h, while a run under timeout = "8760h" passes. Two
# runs reporting 9223372036854775807 tokens summed to -2, and a cost of
# -1e308 with a score of 1.7e308 printed $-inf and inf and made the
# frontier: now such result.json files are invalid (the runs recorded
# `error`), no report holds a negative count or inf, and the frontier is the
# sane tier. A 300-character id or a 250-character name failed at run time
# with directories left behind, and so did a results path past PATH_MAX:
# now each is an error before anything is written (exit 2).
source "$(dirname "$0")/../integration/lib.sh"

cat >agent <<'AGENT'
#!/bin/bash
set -eu
"$PROBE" --log "$WORK/log" --id "$TIERUN_TIER/$TIERUN_SUBTEST/$TIERUN_RUN" --hold-ms 50
case $TIERUN_TIER in
  tokens) echo '{"passed": true, "tokens": {"input": 9223372036854775807, "output": 1}}' ;;
  wild) echo '{"passed": true, "score": 1.7e308, "cost_usd": -1e308}' ;;
  *) echo '{"passed": true, "score": 0.5, "cost_usd": 0.01}' ;;
esac >"$TIERUN_RUN_DIR/result.json"
AGENT
chmod +x agent
export PROBE WORK

# plan FILE EXPERIMENT_LINES TIER_LINES [RETRY_LINES]
plan() {
  {
    echo '[experiment]'
    printf '%s\n' "${2:-name = \"num\"}"
    echo 'runs = 2'
    echo 'results = "results"'
    echo '[agent]'
    echo "command = $(toml_list "$WORK/agent")"
    [[ -z ${4:-} ]] || printf '[retry]\n%s\n' "$4"
    echo '[[tier]]'
    printf '%s\n' "$3"
  } >"$1"
}

# expect_plan_error EXPECTED_LINE COMMAND...: exit 2, the line on stderr,
# nothing written.
expect_plan_error() {
  local expected=$1 status=0
  shift
  timeout 60 "$@" >out 2>err || status=$?
  ((status == 2)) || fail "$* exited $status, expected 2: $(cat err)"
  grep -qxF -- "$expected" err || fail "$*: expected '$expected', got: $(cat err)"
  [[ ! -e results ]] || fail "$* wrote: $(find results | head)"
}

plan timeout.toml $'name = "num"\ntimeout = "3000000h"' 'id = "T0"'
expect_plan_error \
  "timeout.toml:3:11: experiment.timeout: duration '3000000h' is more than the maximum, 8760h (365 days)" \
  "$TIERUN" run timeout.toml --progress none
plan backoff.toml '' 'id = "T0"' $'attempts = 2\nbackoff = "3000000h"'
expect_plan_error \
  "backoff.toml:9:11: retry.backoff: duration '3000000h' is more than the maximum, 8760h (365 days)" \
  "$TIERUN" run backoff.toml --progress none
long_id=$(printf 'i%.0s' {1..300})
plan id.toml '' "id = \"$long_id\""
expect_plan_error \
  "id.toml:8:6: tier.id: id 'iiiiiiiiiiiiiiiiiiii...' is 300 bytes long; ids are at most 243 (the names tierun makes from one, such as .<name>.setup.lock, must fit NAME_MAX, 255)" \
  "$TIERUN" run id.toml --progress none
long_name=$(printf 'n%.0s' {1..250})
plan name.toml "name = \"$long_name\"" 'id = "T0"'
expect_plan_error \
  "name.toml:2:8: experiment.name: id 'nnnnnnnnnnnnnnnnnnnn...' is 250 bytes long; ids are at most 243 (the names tierun makes from one, such as .<name>.setup.lock, must fit NAME_MAX, 255)" \
  "$TIERUN" run name.toml --progress none

# A results directory 16 components of 250 deep: past PATH_MAX below it.
deep=results
for ((i = 0; i < 16; i++)); do deep+=/$(printf 'd%.0s' {1..250}); done
plan deep.toml '' 'id = "T0"'
status=0
timeout 60 "$TIERUN" run deep.toml --results "$deep" --progress none >out 2>err || status=$?
((status == 2)) || fail "a results path past PATH_MAX: exit $status, expected 2: $(cat err)"
grep -qE '^tierun run: .*/T0/00/run_02/report.json.tmp.<pid>.<n>: [0-9]+ bytes, more than a path may have \(PATH_MAX 4096\); use a shorter results directory \(--results\) or shorter ids$' err ||
  fail "a results path past PATH_MAX: $(cat err)"
[[ ! -e results ]] || fail "a results path past PATH_MAX left: $(find results | head -3)"

# At the maxima: runs pass, no overflow; hostile numbers are invalid results.
plan ok.toml $'name = "num"\ntimeout = "8760h"' $'id = "ok"\n[[tier]]\nid = "tokens"\n[[tier]]\nid = "wild"' \
  $'attempts = 2\nbackoff = "8760h"'
timeout 60 "$TIERUN" serve -j2 --audit -- "$TIERUN" run ok.toml --progress none >out 2>err ||
  fail "tierun run failed: $(cat err)"
expect_clean_audit err 2
verify log 2 6
for run in 1 2; do
  for tier in ok tokens wild; do
    expected="('passed', True)"
    [[ $tier == ok ]] || expected="('error', False)"
    actual=$(json_get "results/num/$tier/00/run_0$run/report.json" 'd["status"], d["passed"]')
    [[ $actual == "$expected" ]] || fail "$tier run $run: $actual, expected $expected"
  done
  # Read while the run is in progress, in its hidden directory (.run_0N.<hex>).
  grep -qE "tokens/00/\\.run_0$run\\.[0-9a-f]+/result\\.json: tokens\\.input 9223372036854775807 is out of range; expected an integer from 0 to 1e16" err ||
    fail "no warning for the tokens of run $run: $(cat err)"
  grep -qE "wild/00/\\.run_0$run\\.[0-9a-f]+/result\\.json: score 1\\.7e\\+308 is out of range; expected a number from -1e9 to 1e9" err ||
    fail "no warning for the score of run $run: $(cat err)"
done
report=results/num/report.json
[[ $(json_get "$report" 'd["frontier_tier"], d["frontier_cost_of_pass"]') == "('ok', 0.01)" ]] ||
  fail "frontier: $(json_get "$report" 'd["frontier_tier"], d["frontier_cost_of_pass"]')"
[[ $(json_get "$report" 'd["tokens"]["input"] >= 0') == True ]] ||
  fail "negative token count: $(json_get "$report" 'd["tokens"]')"
expect_no_match results/num/report.md 'inf|nan' "report.md has a non-finite number"
expect_no_match out 'inf|nan' "the printed report has a non-finite number"
echo "ok: 3000000h, 300-byte ids, 250-byte names and a path past PATH_MAX are errors with nothing written; 8760h runs; INT64_MAX tokens, a 1.7e308 score and a -1e308 cost are invalid results; frontier ok at \$0.01"
