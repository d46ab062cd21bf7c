#!/usr/bin/env bash
# `tierun serve` in the fifo style removes its FIFO and private directory when
# it is interrupted (SIGTERM, SIGINT), forwards the signal to the command,
# and exits 128+signal. The command's own exit status passes through.
source "$(dirname "$0")/lib.sh"

mkfifo notify
export TMPDIR="$WORK/tmp"
mkdir "$TMPDIR"

"$TIERUN" serve -j2 --style fifo -- sh -c 'exit 7' && fail "status 0, expected 7" || status=$?
[[ $status -eq 7 ]] || fail "status $status, expected 7"

for signal in TERM INT; do
  "${DEFAULT_SIGINT[@]}" "$TIERUN" serve -j2 --style fifo --grace 3600 -- "$PROBE" --log log --id "$signal" --hold-ms -1 \
    --notify notify 2>err &
  serve_pid=$!
  read -r _ <notify
  [[ -n $(ls "$TMPDIR") ]] || fail "no FIFO directory while serving"
  kill -"$signal" "$serve_pid"
  status=0
  wait "$serve_pid" || status=$?
  expected=$((128 + $(kill -l "$signal")))
  [[ $status -eq $expected ]] || fail "SIG$signal: status $status, expected $expected"
  [[ -z $(ls "$TMPDIR") ]] || fail "SIG$signal left $(ls "$TMPDIR") behind"
  grep -q "^end $signal " log && fail "the probe was not stopped by SIG$signal"
done
echo "ok: exit status passed through; SIGTERM and SIGINT clean up and exit 143/130"
