#!/usr/bin/env bash
# A bad plan stops `tierun run` before anything starts or is written: exit 2
# and one line, `plan.toml:LINE:COLUMN: what was expected`. A plan changed
# after a first run is refused (exit 2, naming the change and --fresh);
# --fresh moves the old results aside to <name>.old.1 and starts anew.
source "$(dirname "$0")/lib.sh"

# expect_plan_error NAME WHERE SUBSTRING: plan.toml in NAME/ is refused with
# exactly one line starting `plan.toml:WHERE: ` and holding SUBSTRING.
expect_plan_error() {
  local name=$1 where=$2 substring=$3 status=0
  (cd "$name" && "$TIERUN" run plan.toml --progress none >../"$name".out 2>../"$name".err) ||
    status=$?
  [[ $status -eq 2 ]] || fail "$name: exit $status, expected 2: $(cat "$name".err)"
  [[ $(wc -l <"$name".err) -eq 1 ]] || fail "$name: expected one line on stderr: $(cat "$name".err)"
  grep -q "^plan.toml:$where: " "$name".err || fail "$name: expected plan.toml:$where: $(cat "$name".err)"
  grep -qF "$substring" "$name".err || fail "$name: expected '$substring': $(cat "$name".err)"
  [[ ! -s $name.out ]] || fail "$name: printed on stdout: $(cat "$name".out)"
  [[ $(ls -A "$name") == plan.toml && ! -e log ]] ||
    fail "$name: something was written or started: $(ls -A "$name")"
}

# plan NAME BODY...: NAME/plan.toml, an experiment with a probe agent and BODY.
plan() {
  local name=$1
  shift
  mkdir -p "$name"
  {
    echo '[experiment]'
    echo 'name = "errors"'
    echo 'results = "results"'
    echo '[agent]'
    echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{tier}-{subtest}-{run}' --hold-ms 0)"
    printf '%s\n' "$@"
  } >"$name/plan.toml"
}

plan zero-runs '[[tier]]' 'id = "T0"' 'subtests = 2' 'runs = 0'
expect_plan_error zero-runs '9:8' 'tier.runs: expected an integer >= 1, got 0'
plan unknown-tier '[[tier]]' 'id = "T0"' 'subtests = 2' 'depends_on = ["T9"]'
expect_plan_error unknown-tier '9:15' "unknown tier 'T9'"
plan escaping-id '[[tier]]' 'id = "../T0"' 'subtests = 2'
expect_plan_error escaping-id '7:6' "ids match [A-Za-z0-9._-]+"

# A first run, then the plan changes: refused, nothing started or moved.
plan changed '[[tier]]' 'id = "T0"' 'subtests = ["a", "b"]'
(cd changed && "$TIERUN" run plan.toml -j2 --progress none >../first.out 2>../first.err) ||
  fail "the first run failed: $(cat first.err)"
verify log 2 2
mv log first.log
sed -i 's/subtests = \["a", "b"\]/subtests = ["a", "b", "c"]/' changed/plan.toml
status=0
(cd changed && "$TIERUN" run plan.toml --progress none >../changed.out 2>../changed.err) || status=$?
[[ $status -eq 2 ]] || fail "a changed plan: exit $status, expected 2: $(cat changed.err)"
grep -qF 'tiers[0].subtests: ["a","b"] -> ["a","b","c"]' changed.err ||
  fail "the message does not say what changed: $(cat changed.err)"
grep -qF -- '--fresh' changed.err || fail "the message does not mention --fresh: $(cat changed.err)"
[[ ! -e log ]] || fail "the changed plan started agents"
[[ ! -e changed/results/errors.old.1 ]] || fail "the old results were moved without --fresh"

(cd changed && "$TIERUN" run plan.toml --fresh -j2 --progress none >../fresh.out 2>../fresh.err) ||
  fail "--fresh failed: $(cat fresh.err)"
old=changed/results/errors.old.1
[[ -f $old/T0/a/run_01/report.json && -f $old/T0/b/run_01/report.json && ! -e $old/T0/c ]] ||
  fail "the old results are not in $old"
[[ -f changed/results/errors/T0/c/run_01/report.json ]] || fail "--fresh did not run the new plan"
[[ $(json_get changed/results/errors/report.json 'd["runs"]') -eq 3 ]] ||
  fail "the new report does not count 3 runs"
grep -q "moved aside: .*errors.old.1" fresh.err || fail "--fresh did not say where the old results went"
verify log 2 3
mv log fresh.log

# Not TOML at all: the array is never closed (toml++ reports it where it
# gives up, at the next line).
plan syntax '[[tier]]' 'id = "T0"' 'subtests = ["a", "b"' 'runs = 2'
expect_plan_error syntax '9:1' "expected comma or closing ']'"
echo "ok: 4 bad plans refused with file:line:column; a changed plan refused; --fresh moved it aside"
