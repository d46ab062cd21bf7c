#!/usr/bin/env bash
# `tierun serve -j3 -- ctest -j`: ctest >= 3.29 is a client of tierun's pool
# (one token per test), and tierun run inside each test joins the same pool.
# The resource spec would allow 8 agents (4 tests of 2); the pool allows 3:
# at most 3 agents at once across all tests, 3 reached, every token back.
# Skipped (exit 77) when no ctest >= 3.29 is on this machine.
source "$(dirname "$0")/lib.sh"

if ! bin=$(newer_ctest_dir); then
  echo "SKIP: no ctest >= 3.29 here (ctest $(ctest --version | head -1 | awk '{print $3}')" \
    "is not a jobserver client); \`make deps\` fetches CMake 3.31 from bookworm-backports" \
    "into .tools/cmake"
  exit 77
fi
install_tierun "$WORK/prefix"
mkdir project
write_tiers_plan project/plan.toml e2e 5 300
cat >project/CMakeLists.txt <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(served NONE)
enable_testing()
find_package(tierun 0.1 REQUIRED)
tierun_add_experiment(NAME e2e PLAN plan.toml SLOTS 8 SLOTS_PER_TEST 2)
CMAKE
"$bin/cmake" -S project -B build -DCMAKE_PREFIX_PATH="$WORK/prefix" >configure.out 2>&1 ||
  fail "configure with $bin/cmake: $(cat configure.out)"
(cd build && timeout 300 "$TIERUN" serve -j3 --audit -- "$bin/ctest" -j --output-on-failure) \
  >ctest.out 2>serve.err || fail "serve -- ctest -j failed: $(cat ctest.out serve.err)"
grep -q "100% tests passed, 0 tests failed out of 6" ctest.out || fail "ctest: $(cat ctest.out)"
verify log 3 30 --expect-reached
expect_clean_audit serve.err 3
grep -q '"pool":"joined the jobserver in MAKEFLAGS' build/tierun-results/e2e/events.jsonl ||
  fail "tierun run did not join the pool: $(grep session build/tierun-results/e2e/events.jsonl)"
echo "ok: ctest $("$bin/ctest" --version | head -1 | awk '{print $3}') and tierun shared a pool of 3"

# `make -j2 test ARGS=-j8`: the generated test target has no '+', so make
# 4.3 closes the pool's fds; ctest cannot connect and pays nothing, and the
# tierun runs of all tests take turns on the one slot make paid for ctest.
mv log served.log
rm -rf build/tierun-results
(cd build && timeout 300 make -j2 test ARGS=-j8) >make-test.out 2>&1 ||
  fail "make -j2 test: $(cat make-test.out)"
verify log 2 30
echo "ok: make -j2 test (no '+') kept the agents within make's slot"
