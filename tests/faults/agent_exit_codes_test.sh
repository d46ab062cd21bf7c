#!/usr/bin/env bash
# Agents that exit non-zero, under `tierun serve -j3 --audit -- tierun run`
# with [retry] attempts = 4 and transient_exit_codes = [75]: exits 1, 3 and
# 74 are recorded failed after one attempt (a code not listed is never
# retried); an agent that exits 75 on every attempt is retried until the
# attempts are used up, then recorded failed with attempts = 4, and a fifth
# attempt never starts. The probe logs each attempt as <code>/<attempt>, so
# the verifier's "every id exactly once" over the expected ids proves the
# attempt count.
source "$(dirname "$0")/../integration/lib.sh"

attempts=4
{
  echo '[experiment]'
  echo 'name = "exits"'
  echo 'runs = 1'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{subtest}/{attempt}' --hold-ms 20 \
    --exit '{subtest}')"
  echo '[retry]'
  echo "attempts = $attempts"
  echo 'backoff = "10ms"'
  echo 'transient_exit_codes = [75]'
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["1", "3", "74", "75", "0"]'
} >plan.toml

timeout 120 "$TIERUN" serve -j3 --audit -- "$TIERUN" run plan.toml --progress none \
  >out 2>err || fail "tierun run failed: $(cat err)"
expect_clean_audit err 3

# Every attempt that should have run, and nothing else.
printf '%s\n' 1/1 3/1 74/1 0/1 >ids
for ((attempt = 1; attempt <= attempts; attempt++)); do echo "75/$attempt" >>ids; done
verify log 3 "$(wc -l <ids)" --expect-ids ids

# expect SUBTEST FIELD VALUE: the run's report.json has FIELD = VALUE.
expect() {
  local file=results/exits/A/$1/run_01/report.json actual
  [[ -f $file ]] || fail "$1: no report.json"
  actual=$(json_get "$file" "d.get('$2')")
  [[ $actual == "$3" ]] || fail "exit $1: $2 is $actual, expected $3"
}
for code in 1 3 74; do
  expect "$code" status failed
  expect "$code" passed False
  expect "$code" exit_code "$code"
  expect "$code" attempts 1
done
expect 75 status failed
expect 75 passed False
expect 75 exit_code 75
expect 75 attempts "$attempts"
expect 0 status passed
expect 0 attempts 1

events=results/exits/events.jsonl
# Retries only of the listed code: attempts - 1 of them, all for subtest 75.
[[ $(grep -c '"event":"retry"' "$events") -eq $((attempts - 1)) ]] ||
  fail "expected $((attempts - 1)) retries in $events: $(grep retry "$events")"
[[ $(grep '"event":"retry"' "$events" | grep -vc '"subtest":"75"') -eq 0 ]] ||
  fail "a code not listed as transient was retried: $(grep retry "$events")"
[[ $(grep -c '"subtest":"75".*"event":"start"' "$events") -eq $attempts ]] ||
  fail "subtest 75 started other than $attempts times"
# The logs of every earlier attempt are kept; there is no later one.
for ((attempt = 1; attempt < attempts; attempt++)); do
  [[ -f results/exits/A/75/run_01/stderr.attempt$attempt.log ]] ||
    fail "the log of attempt $attempt is gone"
done
[[ ! -e results/exits/A/75/run_01/stderr.attempt$attempts.log ]] ||
  fail "attempt $attempts was kept as an earlier attempt: a later one ran"
echo "ok: exits 1, 3, 74 failed once; exit 75 retried to $attempts attempts and no more; audit clean"
