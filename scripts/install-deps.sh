#!/usr/bin/env bash
# Installs the Debian packages tierun needs to build, test and benchmark,
# when they are missing. As root it runs apt-get; otherwise it prints the
# exact command to run and fails.
set -euo pipefail

# "check|package": check is a command name or an absolute path to a header.
requirements=(
  "cmake|cmake"
  "g++|g++"
  "make|make"
  "git|git"
  "clang-format|clang-format"
  "clang-14|clang-14"
  "/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a|libclang-rt-14-dev"
  "/usr/include/gtest/gtest.h|libgtest-dev"
  "/usr/include/gmock/gmock.h|libgmock-dev"
  "/usr/include/benchmark/benchmark.h|libbenchmark-dev"
  "/usr/include/CLI/CLI.hpp|libcli11-dev"
  "/usr/include/nlohmann/json.hpp|nlohmann-json3-dev"
  "/usr/include/toml++/toml.h|libtomlplusplus-dev"
  "cargo|cargo"
  "parallel|parallel"
  "/usr/bin/time|time"
)

missing=()
for requirement in "${requirements[@]}"; do
  check=${requirement%%|*}
  package=${requirement##*|}
  if [[ $check == /* ]]; then
    [[ -e $check ]] && continue
  else
    command -v "$check" >/dev/null 2>&1 && continue
    # rustup installs cargo under ~/.cargo/bin; the Makefile puts it on PATH.
    [[ $check == cargo && -x $HOME/.cargo/bin/cargo ]] && continue
  fi
  missing+=("$package")
done

[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "tierun needs these Debian packages: ${missing[*]}" >&2
  echo "Run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing missing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}"
