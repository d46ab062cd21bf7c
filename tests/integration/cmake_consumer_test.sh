#!/usr/bin/env bash
# One consumer project, three ways to get tierun: the installed package
# (find_package), add_subdirectory of the source tree, and FetchContent from a
# local tarball. Each way gives the same targets and tierun_add_experiment(),
# and ctest lists the same tests with the same properties
# (ctest --show-only=json-v1).
source "$(dirname "$0")/lib.sh"
: "${TIERUN_SOURCE_DIR:?}"

install_tierun "$WORK/prefix"
# What FetchContent downloads: the source tree as a release tarball would hold it.
tar -czf tierun.tar.gz -C "$TIERUN_SOURCE_DIR" --exclude=./.git --exclude='./build*' \
  --exclude=./.tools --exclude=./results .
mkdir consumer
write_tiers_plan consumer/plan.toml e2e 3
cat >consumer/CMakeLists.txt <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
enable_testing()
if(WAY STREQUAL "package")
  find_package(tierun 0.1 REQUIRED)
elseif(WAY STREQUAL "subdirectory")
  add_subdirectory(${TIERUN_SOURCE} tierun)
else()
  include(FetchContent)
  FetchContent_Declare(tierun URL file://${TIERUN_TARBALL})
  FetchContent_MakeAvailable(tierun)
endif()
tierun_add_experiment(NAME e2e PLAN plan.toml SLOTS 4 SLOTS_PER_TEST 2
                      TIERUN_ARGS --grace 3
                      PROPERTIES TIMEOUT 600 LABELS "eval;nightly")
tierun_add_experiment(NAME each PLAN plan.toml PER run SLOTS 4 RESULTS_DIR per-run)
# The library links the same way in all three.
file(WRITE ${CMAKE_BINARY_DIR}/parse.cc [[
#include "jobserver/makeflags.h"
int main() { return jobserver::ParseMakeflags(" -j4").ok() ? 0 : 1; }
]])
add_executable(parse ${CMAKE_BINARY_DIR}/parse.cc)
set_target_properties(parse PROPERTIES CXX_STANDARD 20)
target_link_libraries(parse PRIVATE tierun::jobserver)
add_test(NAME parse COMMAND parse)
CMAKE

# The tests and properties ctest sees, one line per test:
#   name|RESOURCE_GROUPS as count x type:slots|DEPENDS|FIXTURES|LABELS|TIMEOUT|args
summarise_tests() {
  python3 - "$1" <<'PY'
import json, sys
for test in json.load(open(sys.argv[1]))["tests"]:
    props = {p["name"]: p["value"] for p in test.get("properties", [])}
    groups = props.get("RESOURCE_GROUPS", [])
    kinds = sorted({"%s:%d" % (r[".type"], r["slots"]) for g in groups for r in g["requirements"]})
    fixtures = props.get("FIXTURES_REQUIRED", []) + ["cleanup:" + f for f in props.get("FIXTURES_CLEANUP", [])]
    args = [a for a in test.get("command", [])[1:] if not a.startswith("/")]
    print("|".join([test["name"], "%dx%s" % (len(groups), ",".join(kinds)),
                    ",".join(props.get("DEPENDS", [])), ",".join(fixtures),
                    ",".join(props.get("LABELS", [])), str(props.get("TIMEOUT", "")),
                    " ".join(args)]))
PY
}

cat >expected.txt <<'EXPECTED'
e2e.T0|2xagents:1||tierun.e2e|eval,nightly|600.0|run --tiers T0 --results --resource-type agents --experiment-slots 4 --fail-on-failure --grace 3
e2e.T1|2xagents:1||tierun.e2e|eval,nightly|600.0|run --tiers T1 --results --resource-type agents --experiment-slots 4 --fail-on-failure --grace 3
e2e.T2|2xagents:1|e2e.T0,e2e.T1|tierun.e2e|eval,nightly|600.0|run --tiers T2 --results --resource-type agents --experiment-slots 4 --fail-on-failure --grace 3
e2e.report|0x|e2e.T0,e2e.T1,e2e.T2|cleanup:tierun.e2e|eval,nightly||report
EXPECTED

for way in package subdirectory fetchcontent; do
  cmake -S consumer -B "build-$way" -DWAY=$way -DCMAKE_PREFIX_PATH="$WORK/prefix" \
    -DTIERUN_SOURCE="$TIERUN_SOURCE_DIR" -DTIERUN_TARBALL="$WORK/tierun.tar.gz" \
    >"$way.configure" 2>&1 || fail "$way: configure failed: $(cat "$way.configure")"
  cmake --build "build-$way" -j2 >"$way.build" 2>&1 || fail "$way: build failed: $(tail -30 "$way.build")"
  (cd "build-$way" && ctest --show-only=json-v1) >"$way.json" 2>"$way.err" ||
    fail "$way: ctest --show-only failed: $(cat "$way.err")"
  summarise_tests "$way.json" >"$way.tests"
  grep -E '^(e2e\.|parse)' "$way.tests" | grep -v '^parse' >"$way.e2e"
  diff expected.txt "$way.e2e" >&2 || fail "$way: the e2e tests differ from the expected ones"
  # PER run: one test per run (3 tiers x 3 sub-tests x 2 runs), each one slot.
  [[ $(grep -c '^each\.T[0-9]/[0-9]*/[12]|1xagents:1|' "$way.tests") == 18 ]] ||
    fail "$way: expected 18 per-run tests: $(grep '^each' "$way.tests")"
  # T2 depends on T0 and T1: each T2 run test on all 12 of their run tests.
  depends=$(grep '^each\.T2/00/1|' "$way.tests" | cut -d'|' -f3 | tr ',' '\n' | sort)
  [[ $depends == "$(printf 'each.T%d/0%d/%d\n' 0 0 1 0 0 2 0 1 1 0 1 2 0 2 1 0 2 2 \
    1 0 1 1 0 2 1 1 1 1 1 2 1 2 1 1 2 2)" ]] ||
    fail "$way: a T2 run does not depend on every T0 and T1 run: $depends"
  grep -q '"agents": \[{"id": "local", "slots": 4}\]' "build-$way/tierun-resources.json" ||
    fail "$way: resource spec: $(cat "build-$way/tierun-resources.json")"
  grep -q "^set(CTEST_RESOURCE_SPEC_FILE \"$WORK/build-$way/tierun-resources.json\")" \
    "build-$way/CTestTestfile.cmake" || fail "$way: CTEST_RESOURCE_SPEC_FILE is not set for ctest"
  (cd "build-$way" && ctest -R '^parse$') >"$way.parse" 2>&1 || fail "$way: parse: $(cat "$way.parse")"
  echo "ok: $way"
done
echo "ok: the installed package, add_subdirectory and FetchContent give the same tests"
