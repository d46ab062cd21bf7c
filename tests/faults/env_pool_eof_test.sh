#!/usr/bin/env bash
# The pool reaches end-of-file: the make that owned it is gone (every write
# end of the pipe closed), or the advertised fds are on a jobserver device at
# end of file (/dev/null listed in TIERUN_JOBSERVER_DEVICES stands in for a
# dead /dev/steve; unlisted, /dev/null is refused: env_char_device_test.sh).
# tierun run says so and goes on one agent at a time; it never hangs, even
# when no paying parent gave it an implicit slot (the test's shell starts it).
#
# Found by this test: without a paying parent, tierun warned "continuing with
# the implicit slot only", had no implicit slot, started nothing and waited
# forever (jobserver::ClientOptions::one_slot_when_gone).
source "$(dirname "$0")/../integration/lib.sh"

{
  echo '[experiment]'
  echo 'name = "eof"'
  echo 'runs = 3'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{run}' --hold-ms 20)"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["only"]'
} >plan.toml

# run_case NAME: tierun run with MAKEFLAGS on fds 8 and 9 as the caller set them.
run_case() {
  rm -rf results log
  MAKEFLAGS=' -j4 --jobserver-auth=8,9' timeout 30 "$TIERUN" run plan.toml --progress none \
    >"$1.out" 2>"$1.err" || fail "$1: tierun run failed or hung: $(cat "$1.err")"
  grep -q "warning: the jobserver pool was closed" "$1.err" || fail "$1: no warning: $(cat "$1.err")"
  verify log 1 3
}

# A pipe whose every write end is closed: read() says EOF at once. (The
# write side tierun is told about is another pipe, still open.)
exec 8< <(:)
mkfifo w
exec 9<>w
run_case dead-make
exec 8<&- 9>&-

exec 8</dev/null 9>/dev/null
TIERUN_JOBSERVER_DEVICES=/dev/null run_case dev-null
exec 8<&- 9>&-
echo "ok: a pool at end-of-file: a warning, one agent at a time, no hang"
