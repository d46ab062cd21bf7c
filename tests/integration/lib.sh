# Shared helpers of the integration tests. Sourced by each test script, which
# runs with: TIERUN, PROBE, VERIFY (absolute paths to the binaries).
# Every test works in a private temporary directory, removed at exit.
set -euo pipefail

: "${TIERUN:?} ${PROBE:?} ${VERIFY:?}"
unset MAKEFLAGS MFLAGS MAKELEVEL CARGO_MAKEFLAGS
# This directory, for the helpers in Python (timeless_reports.py).
TIERUN_TEST_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export TIERUN_TEST_LIB
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

# --- Helpers of the CMake package tests (cmake_*_test.sh) ---

# install_tierun PREFIX: `cmake --install` of the build under test
# ($TIERUN_BUILD_DIR) into PREFIX.
install_tierun() {
  : "${TIERUN_BUILD_DIR:?}"
  cmake --install "$TIERUN_BUILD_DIR" --prefix "$1" >install.out 2>&1 ||
    fail "install failed: $(cat install.out)"
}

# write_tiers_plan FILE NAME TIERS [HOLD_MS]: experiment NAME with TIERS tiers
# T0.., each of 3 sub-tests x 2 runs of probes that log their run id
# "<tier>/<subtest>/<run>" to $WORK/log; the last tier depends on T0 and T1.
write_tiers_plan() {
  local file=$1 name=$2 tiers=$3 hold=${4:-150} tier
  cat >"$file" <<PLAN
[experiment]
name = "$name"
runs = 2
[agent]
command = ["$PROBE", "--log", "$WORK/log", "--id", "{tier}/{subtest}/{run}", "--hold-ms", "$hold"]
PLAN
  for ((tier = 0; tier < tiers; tier++)); do
    printf '[[tier]]\nid = "T%d"\nsubtests = 3\n' "$tier" >>"$file"
    ((tier == tiers - 1)) && echo 'depends_on = ["T0", "T1"]' >>"$file"
  done
  return 0
}

# write_gated_plan FILE NAME RUNS: experiment NAME, one tier A of one sub-test
# "only" with RUNS runs of probes that log their run number to $WORK/log,
# announce themselves on $WORK/notify and wait at $WORK/gate (see the
# probe's --notify and --gate).
write_gated_plan() {
  {
    echo '[experiment]'
    echo "name = \"$2\""
    echo "runs = $3"
    echo 'results = "results"'
    echo '[agent]'
    echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{run}' --hold-ms 0 \
      --notify "$WORK/notify" --gate "$WORK/gate")"
    echo '[[tier]]'
    echo 'id = "A"'
    echo 'subtests = ["only"]'
  } >"$1"
}

# expect_after LOG FIRST_REGEX THEN_REGEX: in the probe log, every run whose id
# matches THEN_REGEX began after every run matching FIRST_REGEX ended.
expect_after() {
  awk -v first="$2" -v then="$3" '
    $1 == "end" && $2 ~ first { last_end = NR }
    $1 == "begin" && $2 ~ then && !first_begin { first_begin = NR }
    END { exit !(last_end && first_begin && last_end < first_begin) }' "$1" ||
    fail "runs $3 did not wait for runs $2 in $1"
}

# newer_ctest_dir: prints the bin directory of a ctest >= 3.29 (a jobserver
# client): the system's, or the one `make deps` unpacked into .tools/cmake.
newer_ctest_dir() {
  local dir version
  for dir in "$(dirname "$(command -v ctest)")" "${TIERUN_TOOLS_DIR:-}/cmake/usr/bin"; do
    [[ -x $dir/ctest ]] || continue
    version=$("$dir/ctest" --version | head -1 | awk '{print $3}')
    if [[ $(printf '%s\n3.29\n' "$version" | sort -V | head -1) == 3.29 ]]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

# cmake_3_18 cmake|ctest ARGS...: runs CMake 3.18 from .tools/cmake-3.18
# (unpacked by `make deps` with the libjsoncpp it needs) for at most 300 s;
# fails when absent.
cmake_3_18() {
  local root=${TIERUN_TOOLS_DIR:-}/cmake-3.18 tool=$1
  shift
  LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu" timeout 300 "$root/usr/bin/$tool" "$@"
}

# is_dead PID: the process has ended. A zombie counts: this machine's init
# (and some containers') reaps no orphan, so a killed orphan may stay one.
is_dead() {
  [[ ! -e /proc/$1/stat ]] || [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]
}

# bound_rss WHAT KIB BOUND: the peak RSS is under BOUND KiB, except in the
# sanitizer builds (TIERUN_TEST_SANITIZED=1), where shadow memory makes a
# peak RSS meaningless: there it is only printed.
bound_rss() {
  if ((${TIERUN_TEST_SANITIZED:-0})); then
    echo "note: $1 peaked at $2 KiB (a sanitizer build: not bounded)"
  else
    (($2 < $3)) || fail "$1 peaked at $2 KiB, expected under $3"
  fi
}
