#!/usr/bin/env bash
# `tierun run --dry-run`, and `+tierun run` under `make -n`, print a "would
# run" line for every pending run and start nothing: no results directory,
# no agent (the probe log stays absent). Once some runs are complete, only
# the rest are listed, and the results directory is left as it was.
source "$(dirname "$0")/lib.sh"

{
  echo '[experiment]'
  echo 'name = "dry"'
  echo 'runs = 2'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{tier}-{subtest}-{run}' --hold-ms 0)"
  echo '[[tier]]'
  echo 'id = "T0"'
  echo 'subtests = ["a", "b"]'
  echo '[[tier]]'
  echo 'id = "T1"'
  echo 'subtests = ["a", "b", "c"]'
  echo 'depends_on = ["T0"]'
} >plan.toml
printf 'all:\n\t+%s run plan.toml --progress none\n' "$TIERUN" >Makefile

# expect_would_run FILE RUN...: FILE lists exactly these runs as "would run".
expect_would_run() {
  local file=$1
  shift
  sed -n 's/^would run \([^ ]*\) run \([0-9]*\):.*/\1-\2/p' "$file" | tr / - | sort >listed
  printf '%s\n' "$@" | sort >wanted
  diff wanted listed >&2 || fail "$file: the runs listed differ from the pending ones"
}
all=(T0-a-1 T0-a-2 T0-b-1 T0-b-2 T1-a-1 T1-a-2 T1-b-1 T1-b-2 T1-c-1 T1-c-2)

"$TIERUN" run plan.toml --dry-run --progress none >dry.out 2>dry.err || fail "--dry-run failed: $(cat dry.err)"
expect_would_run dry.out "${all[@]}"
grep -qF "would run T0/a run 1: $PROBE --log $WORK/log --id T0-a-1 --hold-ms 0" dry.out ||
  fail "the command is not shown with its placeholders expanded: $(cat dry.out)"
grep -q 'dry run: 10 runs would start, 0 already complete' dry.out || fail "no summary: $(cat dry.out)"
[[ ! -e results && ! -e log ]] || fail "--dry-run wrote results or started an agent"

timeout 60 make -n -s >make.out 2>make.err || fail "make -n failed: $(cat make.err)"
expect_would_run make.out "${all[@]}"
[[ ! -e results && ! -e log ]] || fail "make -n wrote results or started an agent"

# T0 for real; then only T1 is pending, and a dry run changes nothing.
"$TIERUN" run plan.toml --tiers T0 -j2 --progress none >t0.out 2>t0.err || fail "--tiers T0 failed: $(cat t0.err)"
verify log 2 4
snapshot() { find results log -printf '%p %s %T@\n' | sort; }
snapshot >before
"$TIERUN" run plan.toml -n --progress none >dry2.out 2>dry2.err || fail "-n failed: $(cat dry2.err)"
expect_would_run dry2.out T1-a-1 T1-a-2 T1-b-1 T1-b-2 T1-c-1 T1-c-2
grep -q 'dry run: 6 runs would start, 4 already complete' dry2.out || fail "no summary: $(cat dry2.out)"
timeout 60 make -n -s >make2.out 2>make2.err || fail "make -n failed: $(cat make2.err)"
expect_would_run make2.out T1-a-1 T1-a-2 T1-b-1 T1-b-2 T1-c-1 T1-c-2
snapshot | diff before - >&2 || fail "a dry run changed the results or started an agent"
echo "ok: --dry-run and make -n list the pending runs and start nothing"
