#!/usr/bin/env bash
# Two `tierun run`s started by one script under `tierun serve -j3`: the script
# was paid one slot, so the two runs share it -- one runs an agent on it, the
# other reads a token for every agent -- and together they never exceed 3.
# (The same shape as ctest < 3.29 running several tierun tests under
# `make -j3 check`: ctest pays no tokens for its tests.) Under -j1 (no token
# at all) they take turns on the slot, agent by agent. Then a run started
# directly by serve owns its slot and reaches 3 alone.
source "$(dirname "$0")/lib.sh"

for name in one two; do
  cat >"$name.toml" <<PLAN
[experiment]
name = "$name"
runs = 2
[agent]
command = ["$PROBE", "--log", "$WORK/log", "--id", "$name-{subtest}-{run}", "--hold-ms", "300"]
[[tier]]
id = "T0"
subtests = 3
PLAN
done
timeout 120 "$TIERUN" serve -j3 --audit -- bash -c \
  "'$TIERUN' run one.toml --progress none & '$TIERUN' run two.toml --progress none & wait" \
  >shared.out 2>shared.err || fail "serve failed: $(cat shared.err)"
expect_clean_audit shared.err 3
verify log 3 12 --expect-reached
implicit=$(cat results/one/events.jsonl results/two/events.jsonl |
  grep -c '"implicit_slot":true' || true)
((implicit > 0)) || fail "neither run used the script's implicit slot"

# A pool of 1 holds no token at all: the runs must take turns on the slot,
# each giving it back when its agent ends, or one would wait forever.
mv log shared.log
rm -rf results
timeout 120 "$TIERUN" serve -j1 --audit -- bash -c \
  "'$TIERUN' run one.toml --progress none & '$TIERUN' run two.toml --progress none & wait" \
  >single.out 2>single.err || fail "serve -j1 failed (deadlock?): $(cat single.err)"
expect_clean_audit single.err 1
verify log 1 12

mv log single.log
rm -rf results
timeout 120 "$TIERUN" serve -j3 --audit -- "$TIERUN" run one.toml --progress none \
  >alone.out 2>alone.err || fail "serve failed: $(cat alone.err)"
expect_clean_audit alone.err 3
verify log 3 6 --expect-reached
echo "ok: two runs under one paid script shared its slot; at most 3 agents"
