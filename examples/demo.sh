#!/usr/bin/env bash
# `make demo`: runs examples/demo.toml -- six tiers of fake agents, T5 after
# T0-T4 -- under one limit of 6 agents at once, then prints report.md.
# No network; about ten seconds.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")/.."
"$build/src/tierun" run examples/demo.toml -j6 --fresh
