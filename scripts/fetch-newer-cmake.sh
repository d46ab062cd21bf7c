#!/usr/bin/env bash
# Puts CMake/CTest 3.31 from Debian's bookworm-backports into DEST (default
# .tools/cmake), unpacked and NOT installed: the system's cmake stays the
# floor the project is built with. Tests that need ctest >= 3.29 (a jobserver
# client) use it when it is there and are skipped with a message when not.
# It never fails the build: no network means the skip.
set -uo pipefail

dest=${1:-.tools/cmake}
version=3.31.6-2~bpo12+1
[[ -x $dest/usr/bin/ctest ]] && exit 0

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/lists/partial" "$scratch/archives/partial"
echo "deb http://deb.debian.org/debian bookworm-backports main" >"$scratch/sources.list"
apt_options=(-o "Dir::Etc::sourcelist=$scratch/sources.list" -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$scratch/lists" -o "Dir::Cache::archives=$scratch/archives"
  -o "APT::Sandbox::User=root" -qq)
if ! (apt-get "${apt_options[@]}" update &&
  cd "$scratch" && apt-get "${apt_options[@]}" download "cmake=$version" "cmake-data=$version") \
  >"$scratch/log" 2>&1; then
  echo "note: CMake 3.31 could not be fetched from bookworm-backports; the tests that need" \
    "ctest >= 3.29 will be skipped ($(tail -1 "$scratch/log"))" >&2
  exit 0
fi
mkdir -p "$dest"
for deb in "$scratch"/*.deb; do dpkg -x "$deb" "$dest"; done
"$dest/usr/bin/ctest" --version | head -1
