#!/usr/bin/env bash
# A pool whose tokens are not '+' (GNU make writes '+', but a token's byte is
# the server's business: make 4.4 reads '-' ones as its own error marker, and
# other servers use other bytes). tierun run, a client of a pipe pool of
# three tokens 'a', 'b' and 'c', gives back exactly the bytes it read: the
# pool holds "abc" again at the end. Like any pool of three tokens it serves
# four jobs (the tokens and one implicit slot): tierun takes the implicit
# slot when an ancestor pays for one (under `make check`, make does), so the
# limit checked is 4.
source "$(dirname "$0")/../integration/lib.sh"

{
  echo '[experiment]'
  echo 'name = "odd"'
  echo 'runs = 4'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{subtest}/{run}' --hold-ms 150)"
  echo '[[tier]]'
  echo 'id = "T0"'
  echo 'subtests = 3'
} >plan.toml

python3 - "$TIERUN" >pool.out 2>pool.err <<'PY' || fail "$(cat pool.err)"
import os, subprocess, sys
r, w = os.pipe()
os.write(w, b"abc")
env = dict(os.environ, MAKEFLAGS=f" -j4 --jobserver-auth={r},{w}")
run = subprocess.run([sys.argv[1], "run", "plan.toml", "--progress", "none"], env=env,
                     pass_fds=(r, w), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
if run.returncode != 0:
    sys.exit(f"tierun run exited {run.returncode}: {run.stderr}")
os.set_blocking(r, False)
left = b""
while True:
    try:
        chunk = os.read(r, 64)
    except BlockingIOError:
        break
    if not chunk:
        break
    left += chunk
print("".join(sorted(left.decode())))
PY
[[ $(cat pool.out) == abc ]] || fail "the pool held '$(cat pool.out)' afterwards, not the tokens 'abc'"
verify log 4 12
echo "ok: tokens 'a', 'b', 'c': at most 4 agents, and the same three bytes came back"
