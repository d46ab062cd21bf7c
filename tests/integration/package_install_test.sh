#!/usr/bin/env bash
# The installed CMake package: `cmake --install` of this build into a prefix,
# then a consumer project with find_package(tierun 0.1 REQUIRED) builds a
# program against tierun::jobserver and runs tierun::tierun from a test.
source "$(dirname "$0")/lib.sh"
: "${TIERUN_BUILD_DIR:?}"

cmake --install "$TIERUN_BUILD_DIR" --prefix "$WORK/prefix" >install.out ||
  fail "install failed: $(cat install.out)"
for file in tierunConfig.cmake tierunConfigVersion.cmake tierunTargets.cmake; do
  [[ -e prefix/lib/cmake/tierun/$file ]] || fail "not installed: lib/cmake/tierun/$file"
done
mkdir consumer
cat >consumer/CMakeLists.txt <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(tierun 0.1 REQUIRED)
add_executable(parse parse.cc)
target_link_libraries(parse PRIVATE tierun::jobserver)
enable_testing()
add_test(NAME parse COMMAND parse)
add_test(NAME spec COMMAND tierun::tierun resource-spec --slots 2)
set_tests_properties(spec PROPERTIES PASS_REGULAR_EXPRESSION "\"slots\": 2")
CMAKE
cat >consumer/parse.cc <<'CPP'
#include "jobserver/makeflags.h"
int main() {
  auto auth = jobserver::ParseMakeflags(" -j4 --jobserver-auth=fifo:/tmp/x");
  return auth.ok() && auth->style == jobserver::AuthStyle::kFifo ? 0 : 1;
}
CPP
cmake -S consumer -B consumer/build -DCMAKE_PREFIX_PATH="$WORK/prefix" >configure.out 2>&1 ||
  fail "consumer configure failed: $(cat configure.out)"
cmake --build consumer/build >build.out 2>&1 || fail "consumer build failed: $(cat build.out)"
(cd consumer/build && ctest --output-on-failure) >ctest.out 2>&1 || fail "consumer ctest: $(cat ctest.out)"
grep -q "100% tests passed, 0 tests failed out of 2" ctest.out || fail "consumer ctest: $(cat ctest.out)"
echo "ok: installed package found; tierun::jobserver linked, tierun::tierun ran"
