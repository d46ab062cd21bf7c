#!/usr/bin/env bash
# Builds ninja 1.13 from the ninja-build *source* package of a newer Debian
# suite into DEST/ninja-1.13/ninja (default DEST: .tools), NOT installed:
# Debian 12 has ninja 1.11, which joins no jobserver pool, and 1.13 is the
# first that does (fifo: pools only). The tests of `tierun exec` under ninja
# use it when it is there and say so when it is not. It never fails the
# build: no network (or no compiler) means those checks are skipped.
set -uo pipefail

dest=${1:-.tools}
dir=$dest/ninja-1.13
[[ -x $dir/ninja ]] && exit 0

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/lists/partial" "$scratch/archives/partial" "$scratch/src"
# A private apt configuration: the system's sources and lists stay untouched.
for suite in trixie forky sid; do
  echo "deb-src http://deb.debian.org/debian $suite main"
done >"$scratch/sources.list"
options=(-o "Dir::Etc::sourcelist=$scratch/sources.list" -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$scratch/lists" -o "Dir::Cache::archives=$scratch/archives"
  -o "APT::Sandbox::User=root" -qq)

# note WHY: says what is missing and which tests will say so; exits 0.
note() {
  echo "note: ninja 1.13 could not be built ($1); the tests that need it will say so" >&2
  exit 0
}

apt-get "${options[@]}" update >"$scratch/log" 2>&1 || note "$(tail -1 "$scratch/log")"
# The newest 1.13.x among the suites (the version, not the suite, is what counts).
version=$(apt-cache "${options[@]}" showsrc ninja-build 2>/dev/null |
  awk '$1 == "Version:" && $2 ~ /^1\.13\./ { print $2 }' | sort -V | tail -1)
[[ -n $version ]] || note "no ninja-build 1.13.x source package in trixie, forky or sid"
# --download-only and tar instead of dpkg-source: no dpkg-dev needed, and the
# upstream sources are all we build.
(cd "$scratch/src" && apt-get "${options[@]}" source --download-only "ninja-build=$version") \
  >>"$scratch/log" 2>&1 || note "$(tail -1 "$scratch/log")"
tar -xzf "$scratch"/src/ninja-build_*.orig.tar.gz -C "$scratch/src" ||
  note "cannot unpack the source of ninja-build $version"
source_dir=$(echo "$scratch"/src/ninja-*/)
(cd "$source_dir" && python3 configure.py --bootstrap) >>"$scratch/log" 2>&1 ||
  note "configure.py --bootstrap failed: $(tail -1 "$scratch/log")"
mkdir -p "$dir"
cp "$source_dir/ninja" "$dir/ninja.new" && mv "$dir/ninja.new" "$dir/ninja"
echo "ninja $("$dir/ninja" --version) in $dir (from ninja-build $version)"
exit 0
