#!/usr/bin/env bash
# A script under `tierun serve -j3` starts 24 `tierun exec -- probe` in the
# background at once: the script was paid one slot, so one exec runs on it
# and the others read tokens. At most 3 at once, all 24 run, audit clean.
source "$(dirname "$0")/lib.sh"

cat >burst.sh <<SCRIPT
for i in \$(seq 1 24); do
  "$TIERUN" exec -- "$PROBE" --log "$WORK/log" --id "run\$i" --hold-ms 150 &
done
wait
SCRIPT

for style in pipe fifo; do
  rm -f log
  timeout 120 "$TIERUN" serve -j3 --style "$style" --audit -- sh burst.sh 2>err ||
    fail "serve --style $style failed: $(cat err)"
  expect_clean_audit err 3
  verify log 3 24 --expect-reached
done
echo "ok: 24 background execs under tierun serve -j3, pipe and fifo"
