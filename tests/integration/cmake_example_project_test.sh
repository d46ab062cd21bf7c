#!/usr/bin/env bash
# examples/cmake-project against the installed package: `ctest -j16` passes
# with the generated resource spec, and `make -j3 check` runs ctest inside
# make's jobserver, where tierun run joins make's pool (CMake 3.25: the
# $(MAKE) recipe trick). With a CMake >= 3.29 at hand, the same with
# JOB_SERVER_AWARE and ctest as a jobserver client. The same project with
# probe agents proves the limit: `make -j3 check` runs at most 3 agents at
# once, and reaches 3 (before 3.29 the tierun tests share the slot make paid
# for ctest's recipe, agent by agent).
source "$(dirname "$0")/lib.sh"
: "${TIERUN_SOURCE_DIR:?}"

install_tierun "$WORK/prefix"
cp -r "$TIERUN_SOURCE_DIR/examples" .

# check_example NAME CMAKE_BIN_DIR: configure, ctest -j16, then make -j3 check.
check_example() {
  local build=build-$1 bin=$2
  "$bin/cmake" -S examples/cmake-project -B "$build" -DCMAKE_PREFIX_PATH="$WORK/prefix" \
    >"$build.configure" 2>&1 || fail "configure: $(cat "$build.configure")"
  (cd "$build" && timeout 300 "$bin/ctest" -j16 --output-on-failure) >"$build.ctest" 2>&1 ||
    fail "ctest -j16: $(cat "$build.ctest")"
  grep -q "100% tests passed, 0 tests failed out of 5" "$build.ctest" || fail "$(cat "$build.ctest")"
  rm -rf "$build/tierun-results"
  (cd "$build" && timeout 300 make -j3 check) >"$build.check" 2>&1 ||
    fail "make -j3 check: $(cat "$build.check")"
  grep -q "100% tests passed, 0 tests failed out of 5" "$build.check" || fail "$(cat "$build.check")"
  grep -q '"pool":"joined the jobserver in MAKEFLAGS' "$build/tierun-results/eval/events.jsonl" ||
    fail "under make -j3 check, tierun run did not join make's pool:" \
      "$(grep session "$build/tierun-results/eval/events.jsonl")"
  [[ $(json_get "$build/tierun-results/eval/report.json" 'd["runs"]') == 14 ]] ||
    fail "the report does not cover the 14 runs"
  echo "ok: examples/cmake-project with $("$bin/cmake" --version | head -1)"
}

# check_limit NAME CMAKE_BIN_DIR [--expect-reached]: the example project with
# probe agents (4 tiers of 6 runs): `make -j3 check` runs at most 3 at once.
check_limit() {
  local project=probes-$1 bin=$2
  shift 2
  cp -r examples/cmake-project "$project"
  write_tiers_plan "$project/eval.toml" eval 4 300
  "$bin/cmake" -S "$project" -B "$project/build" -DCMAKE_PREFIX_PATH="$WORK/prefix" \
    >"$project.configure" 2>&1 || fail "configure: $(cat "$project.configure")"
  (cd "$project/build" && timeout 300 make -j3 check) >"$project.check" 2>&1 ||
    fail "make -j3 check: $(cat "$project.check")"
  verify log 3 24 "$@"
  mv log "$project.log"
}

check_example system "$(dirname "$(command -v cmake)")"
check_limit system "$(dirname "$(command -v cmake)")" --expect-reached
if bin=$(newer_ctest_dir); then
  check_example newer "$bin"
  check_limit newer "$bin" --expect-reached
else
  echo "note: no CMake >= 3.29 here; JOB_SERVER_AWARE with a ctest client not tried"
fi
