#!/usr/bin/env bash
# However the command ends, `tierun exec --token` gives its token back:
# the command crashes (SIGSEGV), is SIGKILLed, or tierun exec gets SIGTERM
# or SIGINT (forwarded to the command). Each case runs under its own
# `tierun serve -j2 --audit`, whose audit must be clean. The one documented
# loss: tierun exec itself SIGKILLed while the command runs -- then the
# audit reports exactly 1 token missing.
source "$(dirname "$0")/lib.sh"

mkfifo notify

# run_case NAME EXPECTED_EXEC_STATUS EXPECTED_MISSING SCRIPT
run_case() {
  local name=$1 expected=$2 missing=$3 script=$4
  printf '%s\n' "$script" >"$name.sh"
  timeout 60 "$TIERUN" serve -j2 --audit -- bash "$name.sh" >"$name.out" 2>"$name.err" ||
    fail "$name: serve failed: $(cat "$name.err")"
  grep -qx "status=$expected" "$name.out" ||
    fail "$name: tierun exec status $(cat "$name.out"), expected $expected"
  if [[ $missing -eq 0 ]]; then
    expect_clean_audit "$name.err" 2
  else
    grep -q "0 of 1 tokens returned, 1 missing\$" "$name.err" ||
      fail "$name: expected 1 missing token: $(cat "$name.err")"
  fi
}

common="set -u; T='$TIERUN'; P='$PROBE'; L='$WORK/log'; N='$WORK/notify'
pid_of() { awk -v id=\"\$1\" '\$1 == \"begin\" && \$2 == id { print \$3 }' \"\$L\"; }"

run_case crash 139 0 "$common
\"\$T\" exec --token -- sh -c 'kill -SEGV \$\$'; echo status=\$?"

run_case cmd-killed 137 0 "$common
\"\$T\" exec --token -- \"\$P\" --log \"\$L\" --id killed --hold-ms -1 --notify \"\$N\" &
read -r _ <\"\$N\"; kill -KILL \"\$(pid_of killed)\"
wait \$!; echo status=\$?"

# --grace 3600: only a forwarded signal can end the command within the test's
# timeout; without forwarding, SIGKILL would come after an hour.
run_case exec-sigterm 143 0 "$common
\"\$T\" exec --token --grace 3600 -- \"\$P\" --log \"\$L\" --id term --hold-ms -1 --notify \"\$N\" &
exec_pid=\$!
read -r _ <\"\$N\"; kill -TERM \$exec_pid
wait \$exec_pid; echo status=\$?"

# A background job of a non-interactive shell ignores SIGINT, so tierun exec
# runs in the foreground here and a background helper interrupts it.
run_case exec-sigint 130 0 "$common
( read -r _ <\"\$N\"; kill -INT \"\$(ps -o ppid= -p \"\$(pid_of int)\")\" ) &
\"\$T\" exec --token --grace 3600 -- \"\$P\" --log \"\$L\" --id int --hold-ms -1 --notify \"\$N\"
echo status=\$?; wait"

# The same on the implicit slot (no --token): the lock is given back too.
run_case implicit-sigterm 143 0 "$common
\"\$T\" exec --grace 3600 -- \"\$P\" --log \"\$L\" --id implicit --hold-ms -1 --notify \"\$N\" &
exec_pid=\$!
read -r _ <\"\$N\"; kill -TERM \$exec_pid
wait \$exec_pid; echo status=\$?"

# tierun exec SIGKILLed: its token is lost, and the command dies with it
# (PR_SET_PDEATHSIG) instead of running on a slot nobody accounts for.
run_case exec-sigkill 137 1 "$common
\"\$T\" exec --token -- \"\$P\" --log \"\$L\" --id lost --hold-ms -1 --notify \"\$N\" &
exec_pid=\$!
read -r _ <\"\$N\"; kill -KILL \$exec_pid
wait \$exec_pid; echo status=\$?
timeout 30 tail --pid=\"\$(pid_of lost)\" -f /dev/null || touch '$WORK/outlived'"
[[ ! -e outlived ]] || fail "the command outlived tierun exec's SIGKILL"

echo "ok: crash, SIGKILLed command, SIGTERM and SIGINT to exec leave a clean audit;" \
  "SIGKILL to exec loses exactly 1 token"
