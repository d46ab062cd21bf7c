#!/usr/bin/env bash
# Unpacks other CMake/CTest versions from Debian's archive under DEST
# (default .tools), NOT installed: the system's cmake stays the one the
# project is built with.
#  - DEST/cmake:      3.31 from bookworm-backports -- ctest >= 3.29 is a
#                     jobserver client (tests of `tierun serve -- ctest -j`).
#  - DEST/cmake-3.18: 3.18 from bullseye, near the package's floor (3.16) and
#                     the first ctest that reads CTEST_RESOURCE_SPEC_FILE.
# Tests use them when they are there and say so when they are not. It never
# fails the build: no network means those checks are skipped.
set -uo pipefail

dest=${1:-.tools}

# fetch SUITE DIR PACKAGE=VERSION...: downloads and unpacks into DIR.
fetch() {
  local suite=$1 dir=$2
  shift 2
  [[ -x $dir/usr/bin/ctest ]] && return 0
  local scratch
  scratch=$(mktemp -d)
  mkdir -p "$scratch/lists/partial" "$scratch/archives/partial"
  echo "deb http://deb.debian.org/debian $suite main" >"$scratch/sources.list"
  local options=(-o "Dir::Etc::sourcelist=$scratch/sources.list" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$scratch/lists" -o "Dir::Cache::archives=$scratch/archives"
    -o "APT::Sandbox::User=root" -qq)
  if (apt-get "${options[@]}" update && cd "$scratch" && apt-get "${options[@]}" download "$@") \
    >"$scratch/log" 2>&1; then
    mkdir -p "$dir"
    for deb in "$scratch"/*.deb; do dpkg -x "$deb" "$dir"; done
    LD_LIBRARY_PATH="$dir/usr/lib/x86_64-linux-gnu" "$dir/usr/bin/ctest" --version | head -1
  else
    echo "note: $* could not be fetched from $suite; the tests that need it will say so" \
      "($(tail -1 "$scratch/log"))" >&2
  fi
  rm -rf "$scratch"
}

fetch bookworm-backports "$dest/cmake" cmake=3.31.6-2~bpo12+1 cmake-data=3.31.6-2~bpo12+1
# 3.18 links libjsoncpp24, which bookworm replaced by libjsoncpp25.
fetch bullseye "$dest/cmake-3.18" cmake=3.18.4-2+deb11u1 cmake-data=3.18.4-2+deb11u1 \
  libjsoncpp24=1.9.4-4
exit 0
