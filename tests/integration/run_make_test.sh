#!/usr/bin/env bash
# tierun run composes with make, both ways:
# (a) make -j4 runs `+tierun run` next to 6 recipes that run probes directly;
#     tierun joins make's pool, so its agents and make's jobs together stay
#     within 4 (one locked log), and make reports no jobserver trouble.
# (b) tierun run -j3 (its own pool) whose agents each run `make -s` (no -j)
#     with 3 probe jobs: the nested makes join tierun's pool, so at most 3
#     probes run at once, and tierun's audit finds every token back.
source "$(dirname "$0")/lib.sh"

# --- (a) tierun run as a make recipe ---
mkdir a
{
  echo '[experiment]'
  echo 'name = "under-make"'
  echo 'runs = 2'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$WORK/log.a" --id 'run-{tier}-{subtest}-{run}' --hold-ms 150)"
  echo '[[tier]]'
  echo 'id = "T0"'
  echo 'subtests = ["a", "b", "c"]'
  echo '[[tier]]'
  echo 'id = "T1"'
  echo 'subtests = ["a", "b", "c"]'
} >a/plan.toml
{
  echo 'all: experiment $(addprefix plain,1 2 3 4 5 6)'
  echo 'experiment:'
  echo "	+$TIERUN run plan.toml --progress none"
  echo 'plain%:'
  echo "	$PROBE --log $WORK/log.a --id \$@ --hold-ms 150"
} >a/Makefile
timeout 120 make -j4 -s -C a >a.out 2>a.err || fail "make failed: $(cat a.err)"
expect_no_match a.err 'jobserver|INTERNAL|warning' "make or tierun reported jobserver trouble"
grep -q 'joined the jobserver' a/results/under-make/events.jsonl ||
  fail "tierun run did not join make's pool: $(head -1 a/results/under-make/events.jsonl)"
verify log.a 4 18

# --- (b) make inside the agents of tierun run ---
mkdir b b/sub
{
  echo 'all: one two three'
  echo 'one two three:'
  echo "	$PROBE --log $WORK/log.b --id \$(ID)-\$@ --hold-ms 150"
} >b/sub/Makefile
{
  echo '[experiment]'
  echo 'name = "make-agents"'
  echo 'runs = 2'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list make -s -C "$WORK/b/sub" 'ID={tier}-{subtest}-{run}')"
  echo '[[tier]]'
  echo 'id = "T0"'
  echo 'subtests = ["a", "b"]'
  echo '[[tier]]'
  echo 'id = "T1"'
  echo 'subtests = ["a", "b"]'
} >b/plan.toml
(cd b && timeout 120 "$TIERUN" run plan.toml -j3 --progress none >../b.out 2>../b.err) ||
  fail "tierun run failed: $(cat b.err)"
expect_no_match b.err 'jobserver audit|warning' "tierun reported lost tokens or trouble"
expect_no_match <(cat b/results/make-agents/*/*/run_*/stderr.log) 'jobserver|warning' \
  "a nested make reported jobserver trouble"
[[ $(find b/results/make-agents -path '*/run_*/report.json' | wc -l) -eq 8 ]] ||
  fail "not every agent has its report"
passed=$(json_get b/results/make-agents/report.json 'd["passed"]')
[[ $passed -eq 8 ]] || fail "$passed of 8 make agents passed"
verify log.b 3 24
echo "ok: tierun run under make -j4 and make under tierun run -j3 share one limit"
