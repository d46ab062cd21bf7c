#!/usr/bin/env bash
# The jobserver FIFO is deleted mid-run (TMPDIR cleaned, a careless rm):
# `tierun run` joined to a fifo: pool of `tierun serve -j4` while all its
# slots are taken. The pool itself lives on (the server and tierun hold it
# open), so tierun gives every token back to it, finishes every run once
# within the limit without a warning, and the server's audit finds all
# three tokens back. Twice: tierun run as serve's child (its implicit slot
# and the tokens), and with no paying parent (the tokens and the one slot
# shared by the pool's tierun processes that found no payer).
#
# Found by this test: tierun opened the FIFO by its path to give a token
# back, so once the path was gone every token was lost (warned "could not
# return a jobserver token"; the audit missed all three); with its implicit
# slot tierun went on one agent at a time, and with tokens only it waited
# forever for tokens that could not come back. Tokens now go back through
# the FIFO tierun reads from (jobserver/client_posix.cc, OpenFifoWriter).
source "$(dirname "$0")/../integration/lib.sh"

runs=12
write_gated_plan plan.toml deleted "$runs"

# serve's command in the no-payer case: a double fork hands tierun run to
# init, so no ancestor pays it a slot whatever runs this test (make check
# included). Its status comes back through a FIFO; its process group is
# recorded so that a hung tierun can be killed.
cat >detached.sh <<'SCRIPT'
printf '%s\n' "$MAKEFLAGS" >makeflags
mkfifo status
(setsid sh -c 'echo $$ >detached.pgid; "$0" run plan.toml --progress none; echo $? >status' \
  "$TIERUN" </dev/null &)
read -r code <status
exit "$code"
SCRIPT
# A failing test may leave serve and tierun running: serve's group
# (timeout's), and the detached tierun's.
serve_pid=
kill_left() {
  [[ -z $serve_pid ]] || kill -KILL -- -"$serve_pid" 2>/dev/null || true
  [[ ! -s detached.pgid ]] || kill -KILL -- -"$(cat detached.pgid)" 2>/dev/null || true
}
trap 'kill_left; cleanup' EXIT

# run_case NAME AT_GATE COMMAND: `tierun serve -j4 --style fifo` runs the
# shell COMMAND, which writes its MAKEFLAGS to ./makeflags and runs tierun
# run; once AT_GATE agents wait at the gate (every slot tierun can have),
# the test deletes the FIFO and opens the gate.
run_case() {
  local name=$1 at_gate=$2 command=$3 status=0 fifo run report
  rm -rf results log makeflags status notify gate detached.pgid
  # Held open read-write: probes never block opening them, every notify
  # line is kept, and the gate reaches end of file when the test closes it.
  mkfifo notify gate
  exec {notify_fd}<>notify {gate_fd}<>gate
  # The test's FIFO ends must not leak into serve and tierun: a gate they
  # held would never reach end of file.
  timeout 60 "$TIERUN" serve -j4 --style fifo --audit -- sh -c "$command" \
    >"$name.out" 2>"$name.err" {notify_fd}>&- {gate_fd}>&- &
  serve_pid=$!
  read_notifications "$notify_fd" "$at_gate" >/dev/null
  fifo=$(sed -n 's/.*--jobserver-auth=fifo:\([^ ]*\).*/\1/p' makeflags)
  [[ -p $fifo ]] || fail "$name: no FIFO at '$fifo' (MAKEFLAGS: $(cat makeflags))"
  rm "$fifo"
  # Later agents find a plain file: no gate. Only then the first ones go on.
  : >gate.file && mv gate.file gate
  exec {gate_fd}>&-
  wait "$serve_pid" || status=$?
  serve_pid=
  exec {notify_fd}>&-
  [[ $status -ne 124 ]] || fail "$name: tierun hung after the FIFO was deleted: $(cat "$name.err")"
  [[ $status -eq 0 ]] || fail "$name: exit $status after the FIFO was deleted: $(cat "$name.err")"
  # tierun run has ended (its status came back): no group left to kill, and
  # its id may be reused.
  rm -f detached.pgid

  # Within what tierun may use: the pool's four slots.
  verify log "$at_gate" "$runs"
  for ((run = 1; run <= runs; run++)); do
    report=results/deleted/A/only/run_$(printf %02d "$run")/report.json
    [[ $(json_get "$report" 'd["status"]') == passed ]] || fail "$name: run $run did not pass"
  done
  expect_no_match "$name.err" 'could not return' "$name: a token was not given back"
  expect_clean_audit "$name.err" 4
}

# Serve's own child (exec): its implicit slot and three tokens, four agents.
run_case paid 4 'printf "%s\n" "$MAKEFLAGS" >makeflags && exec "$TIERUN" run plan.toml --progress none'
# No paying parent: the three tokens and the one slot that the pool's tierun
# processes with no payer above share (the script serve paid for waits and
# runs nothing on its own slot), four agents.
run_case no-payer 4 'sh ./detached.sh'
echo "ok: the pool's FIFO deleted with every slot taken: $runs runs within -j4, every token back (paid and no payer)"
