#!/usr/bin/env bash
# Misusing tierun_add_experiment() stops the configure step with the
# documented message: each case is a small project configured against the
# installed package.
source "$(dirname "$0")/lib.sh"

install_tierun "$WORK/prefix"
touch plan.toml

# expect_misuse CASE 'CMAKE CALLS' 'EXPECTED MESSAGE'
expect_misuse() {
  local case=$1 calls=$2 expected=$3
  mkdir "$case"
  cp plan.toml "$case/"
  printf 'cmake_minimum_required(VERSION 3.16)\nproject(misuse NONE)\nenable_testing()\n%s\n' \
    "$calls" >"$case/CMakeLists.txt"
  if "${cmake_cmd[@]}" -S "$case" -B "$case/build" -DCMAKE_PREFIX_PATH="$WORK/prefix" \
    >"$case.out" 2>&1; then
    fail "$case: configure succeeded"
  fi
  # CMake wraps long messages; compare with the blanks squeezed.
  tr -s ' \n' ' ' <"$case.out" >"$case.flat"
  grep -qF -- "$expected" "$case.flat" || fail "$case: expected '$expected' in: $(cat "$case.out")"
  echo "ok: $case"
}

find='find_package(tierun REQUIRED)'
cmake_cmd=(cmake)
expect_misuse no_name "$find
tierun_add_experiment(PLAN plan.toml)" \
  "tierun_add_experiment(): NAME <name> is required"
expect_misuse no_plan "$find
tierun_add_experiment(NAME e2e)" \
  "tierun_add_experiment(e2e): PLAN <file> is required"
expect_misuse missing_plan "$find
tierun_add_experiment(NAME e2e PLAN nowhere.toml)" \
  "tierun_add_experiment(e2e): PLAN file not found: $WORK/missing_plan/nowhere.toml"
expect_misuse unknown_keyword "$find
tierun_add_experiment(NAME e2e PLAN plan.toml SLOT 4)" \
  "tierun_add_experiment(e2e): unknown argument(s): SLOT;4"
expect_misuse bad_per "$find
tierun_add_experiment(NAME e2e PLAN plan.toml PER subtest)" \
  "tierun_add_experiment(e2e): PER must be 'tier' or 'run', got 'subtest'"
expect_misuse zero_slots "$find
tierun_add_experiment(NAME e2e PLAN plan.toml SLOTS 0)" \
  "tierun_add_experiment(e2e): SLOTS must be a positive integer, got '0'"
expect_misuse word_slots "$find
tierun_add_experiment(NAME e2e PLAN plan.toml SLOTS four)" \
  "tierun_add_experiment(e2e): SLOTS must be a positive integer, got 'four'"
expect_misuse per_test_above_slots "$find
tierun_add_experiment(NAME e2e PLAN plan.toml SLOTS 2 SLOTS_PER_TEST 3)" \
  "tierun_add_experiment(e2e): SLOTS_PER_TEST 3 is more than SLOTS 2"
expect_misuse upper_type "$find
tierun_add_experiment(NAME e2e PLAN plan.toml RESOURCE_TYPE Agents)" \
  "tierun_add_experiment(e2e): RESOURCE_TYPE 'Agents' is not a CTest resource type (^[a-z_][a-z0-9_]*\$)"
expect_misuse missing_value "$find
tierun_add_experiment(NAME e2e PLAN plan.toml PER)" \
  "tierun_add_experiment(e2e): PER needs a value, got none"
# An unset variable as a value: cmake_parse_arguments drops the empty word
# (before CMake 3.31) as if the keyword were absent, which configured with
# the CPU count; quoted or not, it is an error.
expect_misuse empty_slots_quoted "$find
tierun_add_experiment(NAME e2e PLAN plan.toml SLOTS \"\${N}\" PER tier)" \
  "tierun_add_experiment(e2e): SLOTS needs a value, got ''"
expect_misuse empty_slots_last "$find
tierun_add_experiment(NAME e2e PLAN plan.toml SLOTS \"\${N}\")" \
  "tierun_add_experiment(e2e): SLOTS needs a value, got ''"
expect_misuse empty_slots_unquoted "$find
tierun_add_experiment(NAME e2e PLAN plan.toml SLOTS \${N} PER tier)" \
  "tierun_add_experiment(e2e): SLOTS needs a value, got none"
expect_misuse empty_slots_per_test "$find
tierun_add_experiment(NAME e2e PLAN plan.toml SLOTS 4 SLOTS_PER_TEST \"\")" \
  "tierun_add_experiment(e2e): SLOTS_PER_TEST needs a value, got ''"
expect_misuse empty_results_dir "$find
tierun_add_experiment(NAME e2e PLAN plan.toml RESULTS_DIR \"\${DIR}\")" \
  "tierun_add_experiment(e2e): RESULTS_DIR needs a value, got ''"
expect_misuse own_experiment_slots_flag "$find
tierun_add_experiment(NAME e2e PLAN plan.toml TIERUN_ARGS --experiment-slots 9)" \
  "tierun_add_experiment(e2e): TIERUN_ARGS must not contain '--experiment-slots'"
expect_misuse odd_properties "$find
tierun_add_experiment(NAME e2e PLAN plan.toml PROPERTIES TIMEOUT)" \
  "tierun_add_experiment(e2e): PROPERTIES needs <name> <value> pairs, got: TIMEOUT"
expect_misuse own_resource_type_flag "$find
tierun_add_experiment(NAME e2e PLAN plan.toml TIERUN_ARGS --resource-type=gpus)" \
  "tierun_add_experiment(e2e): TIERUN_ARGS must not contain '--resource-type=gpus'"
expect_misuse fresh "$find
tierun_add_experiment(NAME e2e PLAN plan.toml TIERUN_ARGS --fresh)" \
  "tierun_add_experiment(e2e): TIERUN_ARGS must not contain '--fresh'"
expect_misuse same_name "$find
tierun_add_experiment(NAME e2e PLAN plan.toml)
tierun_add_experiment(NAME e2e PLAN plan.toml)" \
  "tierun_add_experiment(e2e): an experiment of this NAME was already added"
expect_misuse two_limits "$find
tierun_add_experiment(NAME a PLAN plan.toml SLOTS 4)
tierun_add_experiment(NAME b PLAN plan.toml SLOTS 6)" \
  "tierun_add_experiment(b): RESOURCE_TYPE agents already has 4 SLOTS from another experiment, not 6"
expect_misuse no_target "include($WORK/prefix/lib/cmake/tierun/TierunExperiment.cmake)
tierun_add_experiment(NAME e2e PLAN plan.toml)" \
  "tierun_add_experiment(e2e): no target tierun::tierun; call find_package(tierun) or add_subdirectory(<tierun>) first"
# The empty value under the oldest and the newest CMake at hand: 3.18 drops
# it, 3.31 keeps it (CMP0174); both stop with the same message.
empty_calls="$find
tierun_add_experiment(NAME e2e PLAN plan.toml SLOTS \"\${N}\" PER tier)"
if cmake_3_18 cmake --version >/dev/null 2>&1; then
  cmake_cmd=(cmake_3_18 cmake)
  expect_misuse empty_slots_3.18 "$empty_calls" "tierun_add_experiment(e2e): SLOTS needs a value, got ''"
fi
if [[ -x ${TIERUN_TOOLS_DIR:-}/cmake/usr/bin/cmake ]]; then
  cmake_cmd=("$TIERUN_TOOLS_DIR/cmake/usr/bin/cmake")
  expect_misuse empty_slots_3.31 "$empty_calls" "tierun_add_experiment(e2e): SLOTS needs a value, got ''"
  expect_no_match empty_slots_3.31.out "CMP0174" "CMake 3.31 warned about CMP0174"
fi
echo "ok: every misuse stopped the configure step with its message"
