#!/usr/bin/env bash
# MAKEFLAGS that advertises a jobserver tierun cannot use: -j4 with
# --jobserver-auth=R,W on fds that are closed, on fds open on a regular
# file, and fifo: naming a FIFO that does not exist. `tierun run` and
# `tierun exec` warn, naming the problem, and fall back to one agent at a
# time (the slot make paid for); they never hang, never exceed the limit,
# and never write into the regular file.
source "$(dirname "$0")/../integration/lib.sh"

{
  echo '[experiment]'
  echo 'name = "bogus"'
  echo 'runs = 4'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{run}' --hold-ms 20)"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["only"]'
} >plan.toml

# check_case NAME WARNING_REGEX: the files of one case, after it ran.
check_case() {
  grep -Eq "warning: .*$2" "$1.err" || fail "$1: no warning matching '$2': $(cat "$1.err")"
  grep -q "one agent at a time" "$1.err" || fail "$1: the warning does not say how tierun goes on"
  # At most one at a time: the limit of the fallback, not make's -j4.
  verify "$1.log" 1 4
  for run in 1 2 3 4; do
    [[ $(json_get "results/bogus/A/only/run_0$run/report.json" 'd["status"]') == passed ]] ||
      fail "$1: run $run did not pass"
  done
  verify "$1.exec.log" 1 1
  grep -q "warning: " "$1.exec.err" || fail "$1: tierun exec did not warn: $(cat "$1.exec.err")"
}

# run_case NAME MAKEFLAGS [REDIRECTIONS...] (in the calling shell: fds 8, 9).
run_case() {
  local name=$1 flags=$2
  rm -rf results log
  MAKEFLAGS=$flags timeout 60 "$TIERUN" run plan.toml --fresh --progress none >"$name.out" \
    2>"$name.err" || fail "$name: tierun run failed or hung: $(cat "$name.err")"
  mv log "$name.log"
  MAKEFLAGS=$flags timeout 60 "$TIERUN" exec -- "$PROBE" --log "$WORK/$name.exec.log" --id x \
    --hold-ms 0 >"$name.exec.out" 2>"$name.exec.err" ||
    fail "$name: tierun exec failed or hung: $(cat "$name.exec.err")"
}

# Fds 8 and 9 closed (lib.sh opens nothing there; say so explicitly).
exec 8<&- 9>&-
run_case closed ' -j4 --jobserver-auth=8,9'
check_case closed 'fd 8 .* is not open'

# Fds 8 and 9 on a regular file: tierun must not take it for a pool.
printf 'untouched\n' >regular
exec 8<regular 9>>regular
run_case regular ' -j4 --jobserver-auth=8,9'
exec 8<&- 9>&-
check_case regular 'fd 8 .* is not a pipe'
[[ $(cat regular) == untouched ]] || fail "tierun wrote into the regular file: $(od -c regular)"

run_case missing-fifo " -j4 --jobserver-auth=fifo:$WORK/no-such-fifo"
check_case missing-fifo "cannot open jobserver FIFO $WORK/no-such-fifo"
echo "ok: closed fds, a regular file and a missing FIFO: a warning, one agent at a time, no hang"
