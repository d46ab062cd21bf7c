#!/usr/bin/env bash
# Several ctest processes on one build tree at once:
# tierun_add_experiment(NAME eval ... SLOTS 4 SLOTS_PER_TEST 2), six tiers,
# and `ctest -j16 -R 'eval\.T[01]'` in one terminal, `-R 'eval\.T[23]'` in
# another (then a third, `-R 'eval\.T[45]'`). Each ctest hands out the 4
# slots of the resource spec among its own tests only, so each would run 4
# agents; the limit of the experiment holds across them because every
# tierun run also takes one of the slot files <results>/.eval.slots/slot.K
# (--experiment-slots 4, passed by the module) for each agent. The combined
# probe log shows at most 4 at once, and 4 reached.
#
# Found by this test: 8 agents at once with two ctests, 12 with three.
source "$(dirname "$0")/../integration/lib.sh"

module_dir=$(cd "$(dirname "$0")/../../ctest-resources" && pwd)
mkdir project
{
  echo '[experiment]'
  echo 'name = "eval"'
  echo 'runs = 2'
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{tier}/{subtest}/{run}' --hold-ms 400)"
  for tier in 0 1 2 3 4 5; do printf '[[tier]]\nid = "T%d"\nsubtests = 2\n' "$tier"; done
} >project/eval.toml
# The module and this build's tierun, without installing the package.
cat >project/CMakeLists.txt <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(slots NONE)
enable_testing()
add_executable(tierun::tierun IMPORTED)
set_target_properties(tierun::tierun PROPERTIES IMPORTED_LOCATION [[$TIERUN]])
include([[$module_dir/TierunExperiment.cmake]])
tierun_add_experiment(NAME eval PLAN eval.toml SLOTS 4 SLOTS_PER_TEST 2)
CMAKE
cmake -S project -B build >configure.out 2>&1 || fail "configure: $(cat configure.out)"

# run_ctests REGEX...: one `ctest -j16 -R REGEX` per REGEX, all at once on
# the one build tree, on fresh results; each must pass.
run_ctests() {
  local regex pids=() i=0
  rm -rf build/tierun-results log
  for regex in "$@"; do
    (cd build && exec timeout 120 ctest -j16 -R "$regex" --output-on-failure) >"ctest.$i" 2>&1 &
    pids+=($!)
    i=$((i + 1))
  done
  for ((i = 0; i < ${#pids[@]}; i++)); do
    wait "${pids[$i]}" || fail "ctest -R '${*:i+1:1}' failed: $(cat "ctest.$i")"
  done
}

run_ctests 'eval\.T[01]' 'eval\.T[23]'
verify log 4 16 --expect-reached
echo "ok: two ctest -j16 on one build tree: at most 4 agents of eval at once"

run_ctests 'eval\.T[01]' 'eval\.T[23]' 'eval\.T[45]'
verify log 4 24 --expect-reached
echo "ok: three ctest -j16 on one build tree: at most 4 agents of eval at once"
