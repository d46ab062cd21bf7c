#!/usr/bin/env bash
# tierun started with stdin, stdout and stderr closed (`<&- >&- 2>&-`, as a
# daemon or a careless script starts it). Its next pipe would land on fds 0-2:
# `tierun serve -j2 --style pipe -- CMD <&- >&- 2>&-` handed out
# --jobserver-auth=1,2, so CMD's stdout and stderr were the pool: one warning
# line printed became 19 tokens and 8 agents ran at once. Every tierun command
# now opens /dev/null on a closed standard fd first thing: CMD (and every
# agent) gets /dev/null there and a pool on fds above 2, and the limit holds.
#
# Each case runs a script that prints a line to stderr and then starts 8
# probes through `tierun exec`; the probes log begin/end and the verifier
# replays the log against the limit.
source "$(dirname "$0")/../integration/lib.sh"

# cmd.sh NAME LOG: what a CMD or an agent does: writes NAME.fds (its fds
# 0-2 and its pool's fds), prints a warning line to stderr, runs 8 probes
# through `tierun exec` at once, logging to LOG, and waits for them.
cat >cmd.sh <<SCRIPT
#!/usr/bin/env bash
auth=\${MAKEFLAGS##*--jobserver-auth=}
lines="auth \$auth"
for fd in 0 1 2 \${auth/,/ }; do lines+=\$'\\n'"fd \$fd \$(readlink /proc/\$\$/fd/\$fd)"; done
echo "\$lines" >"$WORK/\$1.fds"
echo "tierun: warning: a line on stderr, as agents print them" >&2
for i in 1 2 3 4 5 6 7 8; do
  "$TIERUN" exec -- "$PROBE" --log "\$2" --id "\$1.\$i" --hold-ms 200 &
done
wait
SCRIPT
chmod +x cmd.sh

# check_fds NAME STANDARD_FDS...: the given standard fds of NAME's CMD were
# /dev/null, and its pool was a pipe on two fds above 2.
check_fds() {
  local file=$1.fds auth fd target
  shift
  grep -Eq '^auth [0-9]+,[0-9]+$' "$file" || fail "$file: no pipe pool advertised: $(cat "$file")"
  auth=$(awk '$1 == "auth" { print $2 }' "$file")
  for fd in "$@"; do
    target=$(awk -v fd="$fd" '$1 == "fd" && $2 == fd { print $3 }' "$file")
    [[ $target == /dev/null ]] || fail "$file: fd $fd is '$target', not /dev/null (pool $auth)"
  done
  for fd in ${auth/,/ }; do
    ((fd > 2)) || fail "$file: the pool ($auth) is on standard fd $fd"
    target=$(awk -v fd="$fd" '$1 == "fd" && $2 == fd { print $3 }' "$file")
    [[ $target == pipe:* ]] || fail "$file: pool fd $fd is '$target', not a pipe"
  done
}

# tierun serve: the exact command of the report.
status=0
timeout 60 "$TIERUN" serve -j2 --style pipe -- ./cmd.sh serve "$WORK/serve.log" <&- >&- 2>&- || status=$?
((status == 0)) || fail "tierun serve exited $status"
verify serve.log 2 8
check_fds serve 0 1 2
echo "ok: tierun serve -j2 --style pipe -- CMD <&- >&- 2>&-: pool on fds" \
  "$(awk '$1 == "auth" { print $2 }' serve.fds), CMD's fds 0-2 on /dev/null, never more than 2"

# tierun exec creating its own pool.
status=0
timeout 60 "$TIERUN" exec -j2 -- ./cmd.sh exec "$WORK/exec.log" <&- >&- 2>&- || status=$?
((status == 0)) || fail "tierun exec exited $status"
verify exec.log 2 8
check_fds exec 0 1 2
echo "ok: tierun exec -j2 -- CMD <&- >&- 2>&-: CMD's fds 0-2 on /dev/null, never more than 2"

# tierun run creating its own pool: each agent is cmd.sh. Its stdout and
# stderr are its logs; the pool it is told about must be the pool.
{
  echo '[experiment]'
  echo 'name = "closed"'
  echo 'runs = 2'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$WORK/cmd.sh" "run{run}" "$WORK/run.log")"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["only"]'
} >plan.toml
status=0
timeout 60 "$TIERUN" run plan.toml -j2 --progress plain <&- >&- 2>&- || status=$?
((status == 0)) || fail "tierun run exited $status"
for run in 1 2; do
  dir=results/closed/A/only/run_0$run
  [[ $(json_get "$dir/report.json" 'd["status"]') == passed ]] || fail "run $run did not pass"
  # The agent's own `tierun exec`s joined its pool: they printed nothing.
  [[ $(grep -v '^tierun: warning: a line on stderr' "$dir/stderr.log") == "" ]] ||
    fail "run $run: the agent's tierun exec could not use its pool: $(cat "$dir/stderr.log")"
  check_fds "run$run" 0  # Its stdout and stderr are its logs.
done
verify run.log 2 16
echo "ok: tierun run -j2 <&- >&- 2>&-: the agents' pool is a pipe above fd 2, never more than 2"
