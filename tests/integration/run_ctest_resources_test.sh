#!/usr/bin/env bash
# Under ctest with a resource spec (`tierun resource-spec --slots 3`), two
# tests each run `tierun run -j8` with RESOURCE_GROUPS "2,agents:1": ctest
# gives each test 2 agent slots and tierun runs at most that many agents,
# although its own pool would allow 8. Across both tests: at most 3 at once
# (the spec), each test at most 2, and every run done.
source "$(dirname "$0")/lib.sh"

"$TIERUN" resource-spec --slots 3 >spec.json || fail "resource-spec failed"
for test in one two; do
  cat >"$test.toml" <<PLAN
[experiment]
name = "$test"
[agent]
command = ["$PROBE", "--log", "$WORK/log", "--id", "$test-{subtest}", "--hold-ms", "150"]
[[tier]]
id = "T0"
subtests = 6
PLAN
done
cat >CMakeLists.txt <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(resources NONE)
enable_testing()
foreach(test one two)
  add_test(NAME \${test} COMMAND "$TIERUN" run \${test}.toml -j8 --progress none
           WORKING_DIRECTORY "$WORK")
  set_tests_properties(\${test} PROPERTIES RESOURCE_GROUPS "2,agents:1")
endforeach()
CMAKE
cmake -S . -B build >/dev/null || fail "configure failed"
(cd build && timeout 120 ctest -j8 --resource-spec-file "$WORK/spec.json" --output-on-failure) \
  >ctest.out 2>&1 || fail "ctest failed: $(cat ctest.out)"
grep -q "100% tests passed" ctest.out || fail "ctest: $(cat ctest.out)"
verify log 3 12
for test in one two; do
  grep "$test-" log >"$test.log"
  verify "$test.log" 2 6 --expect-reached
done
grep -q '"pool":"CTest resource slots: a pool of 2' results/one/events.jsonl ||
  fail "tierun did not take its slots from ctest: $(head -1 results/one/events.jsonl)"
echo "ok: ctest gave each test 2 agent slots; tierun ran at most 2 agents per test"
