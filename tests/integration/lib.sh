# Shared helpers of the integration tests. Sourced by each test script, which
# runs with: TIERUN, PROBE, VERIFY (absolute paths to the binaries).
# Every test works in a private temporary directory, removed at exit.
set -euo pipefail

: "${TIERUN:?} ${PROBE:?} ${VERIFY:?}"
unset MAKEFLAGS MFLAGS MAKELEVEL CARGO_MAKEFLAGS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tierun-it.XXXXXX")
cleanup() {
  # A failed test must not leave its background processes running.
  local pids
  pids=$(jobs -p)
  [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# verify LOG LIMIT COUNT [extra tierun-verify-log flags]
verify() {
  local log=$1 limit=$2 count=$3
  shift 3
  "$VERIFY" "$log" --limit "$limit" --expect-count "$count" "$@" || fail "log $log violates the limit"
}

# expect_clean_audit STDERR_FILE SLOTS: `tierun serve --audit` said all came back.
expect_clean_audit() {
  local tokens=$(($2 - 1))
  grep -q "jobserver audit .*: $tokens of $tokens tokens returned\$" "$1" ||
    fail "audit not clean: $(grep -h 'audit' "$1" || echo 'no audit line')"
}

# expect_no_match FILE REGEX WHAT
expect_no_match() {
  if grep -E "$2" "$1" >&2; then fail "$3"; fi
}

# wait_for_notify FIFO: blocks until one probe has begun and said so.
wait_for_notify() {
  local line
  read -r line <"$1"
  echo "$line"
}

# "${DEFAULT_SIGINT[@]}" CMD... &: runs CMD with SIGINT at its default action,
# in this very process (exec), so $! is CMD's pid. A background job of a
# script inherits SIGINT ignored, and an ignored signal stays ignored across
# exec; this undoes that for signal tests.
DEFAULT_SIGINT=(perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die "exec $ARGV[0]: $!"')

# probe_pid LOG ID: the pid the probe recorded in its begin line.
probe_pid() {
  awk -v id="$2" '$1 == "begin" && $2 == id { print $3 }' "$1"
}

# --- Helpers of the `tierun run` tests (run_*_test.sh) ---

# toml_list WORD...: a TOML array of basic strings, ["a", "b"] (no escaping:
# the words are paths and ids of the test, free of quotes and backslashes).
toml_list() {
  local out="" word
  for word in "$@"; do out+="${out:+, }\"$word\""; done
  echo "[$out]"
}

# read_notifications FD COUNT [SECONDS]: reads COUNT lines that probes wrote
# with --notify to a FIFO the test holds open on FD (`exec {fd}<>fifo`, so no
# line is lost between reads); prints them. Fails after SECONDS (default 60).
read_notifications() {
  local fd=$1 count=$2 seconds=${3:-60} line i
  for ((i = 0; i < count; i++)); do
    read -r -t "$seconds" line <&"$fd" || fail "only $i of $count notifications came"
    echo "$line"
  done
}

# json_get FILE EXPR: prints the Python expression EXPR over the JSON in FILE,
# bound to `d` (e.g. json_get report.json 'd["status"]').
json_get() {
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# wait_gone PID...: each PID (not our child) has ended; fails after 30 s.
wait_gone() {
  local pid
  for pid in "$@"; do
    timeout 30 tail -s 0.05 --pid="$pid" -f /dev/null || fail "process $pid still runs"
  done
}
