#!/usr/bin/env bash
# Runs the jobserver benchmarks, saves their JSON and prints the medians and the
# ratios we report. The machines are shared and noisy, so the ratios of
# `tierun exec` to a bare spawn, measured in one run, are the result; absolute
# times are context.
#
# Usage: bash bench/run.sh BUILD_DIR        (or: make bench, which builds in Release)
# BENCH_MIN_TIME overrides the seconds per repetition (default 0.5; 5
# repetitions of 5 benchmarks stay well under a minute).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: bash bench/run.sh BUILD_DIR" >&2
  exit 2
fi
build_dir=$1
bench="$build_dir/bench/jobserver_bench"
json="$build_dir/bench/jobserver_bench.json"
if [[ ! -x $bench ]]; then
  echo "bench/run.sh: $bench not found; build first (make build)" >&2
  exit 2
fi

# Read before the run: the build type the binaries were configured with.
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)

# The benchmark strips these from its children itself; unsetting them here as
# well keeps a caller's jobserver (make -j bench) out of the measurement.
env -u MAKEFLAGS -u MFLAGS -u CARGO_MAKEFLAGS -u MAKELEVEL "$bench" \
  --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true \
  --benchmark_min_time="${BENCH_MIN_TIME:-0.5}" \
  --benchmark_out="$json" \
  --benchmark_out_format=json

python3 - "$json" "${build_type:-unset}" <<'PY'
import json
import sys

path, build_type = sys.argv[1], sys.argv[2]
with open(path) as f:
    report = json.load(f)
context = report["context"]
to_us = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}

medians = {}  # name without "/real_time" -> median wall time in microseconds
cvs = {}
for b in report["benchmarks"]:
    name = b["run_name"].removesuffix("/real_time")
    if b.get("error_occurred"):
        sys.exit(f"bench/run.sh: {name}: {b.get('error_message', 'error')}")
    if b.get("aggregate_name") == "median":
        medians[name] = b["real_time"] * to_us[b["time_unit"]]
    elif b.get("aggregate_name") == "cv":
        cvs[name] = b["real_time"]  # cv is a fraction, whatever the unit.

print()
print(f"Run on ({context['num_cpus']} X {context['mhz_per_cpu']} MHz CPU s), "
      f"load average {', '.join(f'{x:.2f}' for x in context.get('load_avg', []))}; "
      f"CMAKE_BUILD_TYPE={build_type}, libbenchmark {context.get('library_build_type', '?')}")
print(f"{'benchmark (median of 5, wall time)':<40} {'median':>14} {'cv':>7}")
for name, us in medians.items():
    shown = f"{us * 1e3:.1f} ns" if us < 1 else f"{us:.1f} us"
    cv = f"{cvs[name] * 100:.1f}%" if name in cvs else "-"
    print(f"{name:<40} {shown:>14} {cv:>7}")

base = medians.get("BM_SpawnTrue")
print()
print("ratios (the result; absolute times vary with the machine's load)")
for label, name in [("exec in_pool / spawn true", "BM_TierunExecTrue/in_pool"),
                    ("exec own_pool / spawn true", "BM_TierunExecTrue/own_pool")]:
    if base and name in medians:
        print(f"{label:<40} {medians[name] / base:>13.2f}x")
    else:
        print(f"{label:<40} {'missing':>14}")
PY
echo "JSON: $json"

# The runner's bookkeeping without processes: per-event cost of the queue at
# 10^3..10^6 runs (flat means O(1) per event), and reports of 10^5 runs.
echo
echo "Runner bookkeeping (no processes):"
if [[ -x $build_dir/bench/runner_bench ]]; then
  "$build_dir/bench/runner_bench" --benchmark_min_time="${BENCH_MIN_TIME:-0.5}"
else
  echo "bench/run.sh: $build_dir/bench/runner_bench not built; skipped"
fi

# The side-by-side comparison with the peers (bench/compare.py): several
# minutes; BENCH_REPS and BENCH_WORKLOADS shorten it.
echo
echo "Side by side (N = 6, 5 tiers; ratios to the C reference in the same rep):"
python3 "$(dirname "$0")/compare.py" "$build_dir" --reps "${BENCH_REPS:-5}" \
  --workloads "${BENCH_WORKLOADS:-W1,W2,W3,W4}"
