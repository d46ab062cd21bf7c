#!/usr/bin/env bash
# An agent of tierun run sees stdin, stdout.log, stderr.log and its pool's
# fds, nothing else: not the fds tierun itself inherited without
# close-on-exec (here 7 and 9, opened by this script, and whatever the test
# harness leaks), whether tierun made the pool (pipe or fifo style) or joined
# make's. Each agent prints the fds it has open (found with fstat(), which
# opens none itself) and MAKEFLAGS.
source "$(dirname "$0")/lib.sh"

cat >plan.toml <<'PLAN'
[experiment]
name = "fds"
runs = 1
results = "results"
[agent]
command = ["python3", "-S", "-c", """
import os
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
print(' '.join(str(fd) for fd in range(4096) if is_open(fd)))
print(os.environ.get('MAKEFLAGS', ''))
"""]
[[tier]]
id = "T0"
subtests = ["a"]
PLAN

# expect_only_pool_fds WHAT: the agent's fds are 0 1 2 and the --jobserver-auth
# fds its MAKEFLAGS names (none for a fifo pool).
expect_only_pool_fds() {
  local run=results/fds/T0/a/run_01 fds makeflags pool expected
  fds=$(sed -n 1p "$run/stdout.log")
  makeflags=$(sed -n 2p "$run/stdout.log")
  pool=$(sed -n 's/.*--jobserver-auth=\([0-9]*\),\([0-9]*\).*/\1 \2/p' <<<"$makeflags")
  [[ -n $pool || $makeflags == *fifo:* ]] || fail "$1: no pool in the agent's MAKEFLAGS: '$makeflags'"
  # shellcheck disable=SC2086 # $pool: two numbers or none.
  expected=$(printf '%s\n' 0 1 2 $pool | sort -n | tr '\n' ' ')
  expected=${expected% }
  [[ $fds == "$expected" ]] || fail "$1: the agent had fds '$fds', expected '$expected'"
  rm -rf results
}

exec 7</dev/null 9>leaked
"$TIERUN" run plan.toml -j4 --progress none >out 2>err || fail "own pipe pool: $(cat err)"
expect_only_pool_fds "own pipe pool"
"$TIERUN" serve -j3 --style fifo -- "$TIERUN" run plan.toml --progress none >out 2>err ||
  fail "fifo pool: $(cat err)"
expect_only_pool_fds "fifo pool of tierun serve"
printf 'all:\n\t+"%s" run plan.toml --progress none >out 2>err\n' "$TIERUN" >Makefile
make -j3 >make.out 2>&1 || fail "make's pool: $(cat make.out err)"
expect_only_pool_fds "make's pipe pool"
echo "ok: agents see stdio and their pool's fds only (own pipe pool, fifo pool, make's pool)"
