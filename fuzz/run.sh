#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each on a copy of its seed corpus, and
# fails if any of them crashed. The copies, the inputs libFuzzer adds to them
# and any crashing input live under BUILD_DIR: the committed corpus under
# fuzz/corpus/ is only ever read.
#
# Usage: bash fuzz/run.sh BUILD_DIR SECONDS     (or: make fuzz FUZZ_SECONDS=N)
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: bash fuzz/run.sh BUILD_DIR SECONDS" >&2
  exit 2
fi
build_dir=$1
seconds=$2
seeds_dir=$(cd "$(dirname "$0")" && pwd)/corpus

# All targets at once, each for SECONDS of wall time: CI pays SECONDS, not
# five times it (on two cores each gets less CPU, which the seconds are not).
declare -A pids
for seeds in "$seeds_dir"/*/; do
  target=$(basename "$seeds")
  fuzzer=$build_dir/${target}_fuzzer
  if [[ ! -x $fuzzer ]]; then
    echo "fuzz/run.sh: $fuzzer not found; build first (make fuzz)" >&2
    exit 2
  fi
  corpus=$build_dir/corpus/$target
  artifacts=$build_dir/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  cp "$seeds"* "$corpus"/
  echo "== $target: ${seconds}s on $corpus"
  "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" >"$build_dir/$target.log" 2>&1 &
  pids[$target]=$!
done

failed=()
for target in "${!pids[@]}"; do
  # libFuzzer's own status line per run; the full log stays beside the corpus.
  if wait "${pids[$target]}"; then
    echo "$target: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$build_dir/$target.log" || tail -n 1 "$build_dir/$target.log")"
  else
    tail -n 40 "$build_dir/$target.log" >&2
    failed+=("$target")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: crashes in ${failed[*]}; inputs under $build_dir/artifacts/, logs $build_dir/*.log" >&2
  exit 1
fi
echo "fuzz: no crashes"
