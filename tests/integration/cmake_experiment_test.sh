#!/usr/bin/env bash
# tierun_add_experiment() from the installed package, run by a plain
# `ctest -j16` (no flag: the module sets CTEST_RESOURCE_SPEC_FILE). Five tiers
# of 6 runs, T4 after T0 and T1, SLOTS 4:
#  - PER tier: tests e2e.T0..T4 and e2e.report; at most 4 agents at once
#    across all tests, and 4 reached; T4's runs begin after T0's and T1's
#    ended; the report test ends last and its report counts all 30 runs.
#  - PER run: one test per run (30) and the report; the same limit.
#  - Both experiments in one project, configured and run by CMake 3.18 (the
#    oldest at hand; the package supports 3.16), added from a function of
#    the project, with RESOURCE_TYPE llm_calls, results in a directory whose
#    name holds a blank and a property value with ']=' in it: 60 runs, still
#    at most 4 at once -- one resource type is one limit across experiments.
source "$(dirname "$0")/lib.sh"

install_tierun "$WORK/prefix"
mkdir project
write_tiers_plan project/tiers.toml e2e 5 300
write_tiers_plan project/runs.toml each 5 300
cat >project/CMakeLists.txt <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(experiment NONE)
enable_testing()
find_package(tierun 0.1 REQUIRED)
tierun_add_experiment(NAME ${EXPERIMENT} PLAN ${PLAN} PER ${PER} SLOTS 4)
CMAKE

# run_experiment NAME PLAN PER: configures, then runs ctest -j16.
run_experiment() {
  local build=build-$3
  cmake -S project -B "$build" -DCMAKE_PREFIX_PATH="$WORK/prefix" -DEXPERIMENT="$1" \
    -DPLAN="$2" -DPER="$3" >"$3.configure" 2>&1 || fail "configure: $(cat "$3.configure")"
  (cd "$build" && timeout 300 ctest -j16 --output-on-failure) >"$3.ctest" 2>&1 ||
    fail "ctest -j16 failed: $(cat "$3.ctest")"
  grep -q "100% tests passed" "$3.ctest" || fail "ctest: $(cat "$3.ctest")"
  tests_run=$(grep -cE "Test +#[0-9]+: " "$3.ctest")
  last_test=$(grep -E "Test +#[0-9]+: " "$3.ctest" | tail -1)
  report="$build/tierun-results/$1/report.json"
}

run_experiment e2e tiers.toml tier
((tests_run == 6)) || fail "PER tier: $tests_run tests ran, expected 5 tiers + report"
[[ $last_test == *"e2e.report "* ]] || fail "the report test did not end last: $last_test"
verify log 4 30 --expect-reached
expect_after log '^T0/|^T1/' '^T4/'
[[ $(json_get "$report" 'd["runs"]') == 30 && $(json_get "$report" 'd["expected_runs"]') == 30 ]] ||
  fail "the report does not cover every run: $(cat "$report")"

mv log tiers.log
echo "ok: PER tier kept 4 agent slots under ctest -j16; T4 after T0, T1; report last"
run_experiment each runs.toml run
((tests_run == 31)) || fail "PER run: $tests_run tests ran, expected 30 runs + report"
[[ $last_test == *"each.report "* ]] || fail "the report test did not end last: $last_test"
verify log 4 30 --expect-reached
expect_after log '^T0/|^T1/' '^T4/'
[[ $(json_get "$report" 'd["runs"]') == 30 ]] || fail "PER run report: $(cat "$report")"
echo "ok: PER run kept 4 agent slots under ctest -j16"

mv log runs.log
if ! cmake_3_18 cmake --version >/dev/null 2>&1; then
  echo "note: no CMake 3.18 in $TIERUN_TOOLS_DIR/cmake-3.18 (make deps fetches it); skipped that part"
  exit 0
fi
sed -i 's/"{tier}/"each-{tier}/' project/runs.toml
cat >project/CMakeLists.txt <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(experiment NONE)
enable_testing()
find_package(tierun 0.1 REQUIRED)
function(add_evaluations)
  foreach(per tier run)
    tierun_add_experiment(NAME ${per} PLAN ${per}s.toml PER ${per} SLOTS 4
                          RESOURCE_TYPE llm_calls RESULTS_DIR "results dir"
                          PROPERTIES ENVIRONMENT "UNUSED=a]=b")
  endforeach()
endfunction()
add_evaluations()
CMAKE
cmake_3_18 cmake -S project -B build-3.18 -DCMAKE_PREFIX_PATH="$WORK/prefix" >old.configure 2>&1 ||
  fail "CMake 3.18 configure: $(cat old.configure)"
(cd build-3.18 && cmake_3_18 ctest -j16 --output-on-failure) >old.ctest 2>&1 ||
  fail "ctest 3.18 -j16: $(cat old.ctest)"
grep -q "100% tests passed, 0 tests failed out of 37" old.ctest || fail "ctest 3.18: $(cat old.ctest)"
verify log 4 60 --expect-reached
for name in e2e each; do
  [[ $(json_get "build-3.18/results dir/$name/report.json" 'd["runs"]') == 30 ]] ||
    fail "the report of $name does not cover its 30 runs"
done
echo "ok: CMake 3.18 ran both experiments within 4 agent slots"
