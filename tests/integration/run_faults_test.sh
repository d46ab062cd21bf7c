#!/usr/bin/env bash
# Agents that go wrong, under `tierun serve -j3 --audit -- tierun run`: one
# crashes (SIGSEGV), one is SIGKILLed, one hangs past its 1 s timeout, one
# ignores the SIGTERM of its timeout (SIGKILL after --grace 1), one exits 75
# (transient) on attempts 1 and 2 and passes on 3. Each run's report says how
# it ended, and the audit proves every token came back however it did.
source "$(dirname "$0")/lib.sh"

mkdir agents
printf '#!/bin/sh\nkill -SEGV $$\n' >agents/crash
printf '#!/bin/sh\nkill -KILL $$\n' >agents/killed
printf '#!/bin/sh\nexec sleep 600\n' >agents/hang
# bash passes an ignored SIGTERM on to `sleep` too.
printf '#!/bin/bash\ntrap "" TERM\nwhile :; do sleep 1; done\n' >agents/ignore-term
printf '#!/bin/sh\n[ "$TIERUN_ATTEMPT" -ge 3 ] || exit 75\n' >agents/flaky
chmod +x agents/*

{
  echo '[experiment]'
  echo 'name = "faults"'
  echo 'runs = 1'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = [\"$WORK/agents/{subtest}\"]"
  echo '[retry]'
  echo 'attempts = 3'
  echo 'backoff = "100ms"'
  echo 'transient_exit_codes = [75]'
  echo '[[tier]]'
  echo 'id = "quick"'
  echo 'subtests = ["crash", "killed", "flaky"]'
  echo 'timeout = "60s"'
  echo '[[tier]]'
  echo 'id = "slow"'
  echo 'subtests = ["hang", "ignore-term"]'
  echo 'timeout = "1s"'
} >plan.toml

timeout 120 "$TIERUN" serve -j3 --audit -- "$TIERUN" run plan.toml --grace 1 --progress none \
  >out 2>err || fail "tierun run failed: $(cat err)"
expect_clean_audit err 3

# expect RUN FIELD VALUE: results/faults/RUN/run_01/report.json has FIELD = VALUE.
expect() {
  local file=results/faults/$1/run_01/report.json actual
  [[ -f $file ]] || fail "$1: no report.json"
  actual=$(json_get "$file" "d.get('$2')")
  [[ $actual == "$3" ]] || fail "$1: $2 is $actual, expected $3"
}
expect quick/crash status crashed
expect quick/crash signal 11
expect quick/killed status crashed
expect quick/killed signal 9
expect quick/flaky status passed
expect quick/flaky attempts 3
expect quick/flaky passed True
expect slow/hang status timeout
expect slow/hang signal 15
expect slow/ignore-term status timeout
expect slow/ignore-term signal 9
[[ $(grep -c '"event":"retry"' results/faults/events.jsonl) -eq 2 ]] ||
  fail "expected 2 retries in events.jsonl"
[[ -f results/faults/quick/flaky/run_01/stderr.attempt2.log ]] ||
  fail "the earlier attempts' logs were not kept"
echo "ok: crash, SIGKILL, timeout, ignored SIGTERM and a transient failure recorded; audit clean"
