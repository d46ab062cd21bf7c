#!/usr/bin/env bash
# MAKEFLAGS that advertises a character device as the jobserver pool:
# `fifo:/dev/zero`, or fds 8 and 9 on /dev/zero, /dev/null or a terminal.
# /dev/zero gave endless tokens (20 agents of 20 at once); a terminal made
# `tierun exec` wait for Enter, take the keystroke as a token and echo it
# back. Only known jobserver devices (/dev/steve, Gentoo's CUSE jobserver,
# and those in TIERUN_JOBSERVER_DEVICES) are pools now: the rest is refused
# with a warning that says what it is, and tierun goes on one agent at a time.
source "$(dirname "$0")/../integration/lib.sh"

runs=20
{
  echo '[experiment]'
  echo 'name = "device"'
  echo "runs = $runs"
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$PROBE" --log "$WORK/log" --id '{run}' --hold-ms 30)"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["only"]'
} >plan.toml

# run_case NAME MAKEFLAGS WARNING_REGEX: `tierun run` (fds 8 and 9 as the
# caller set them) warns, then runs its agents one at a time.
run_case() {
  rm -rf results log
  MAKEFLAGS=$2 timeout 60 "$TIERUN" run plan.toml --progress none >"$1.out" 2>"$1.err" ||
    fail "$1: tierun run failed or hung: $(cat "$1.err")"
  mv log "$1.log"
  verify "$1.log" 1 "$runs"
  grep -Eq "warning: .*$3" "$1.err" || fail "$1: no warning matching '$3': $(cat "$1.err")"
  grep -q "one agent at a time" "$1.err" || fail "$1: the warning does not say how tierun goes on"
}

run_case fifo-zero ' -j4 --jobserver-auth=fifo:/dev/zero' \
  'jobserver path /dev/zero is a character device, not a FIFO or a known jobserver device'
exec 8</dev/zero 9>/dev/zero
run_case fds-zero ' -j4 --jobserver-auth=8,9' \
  'jobserver fd 8 .* is the character device /dev/zero, not a jobserver pool'
exec 8<&- 9>&-
exec 8</dev/null 9>/dev/null
run_case fds-null ' -j4 --jobserver-auth=8,9' \
  'jobserver fd 8 .* is the character device /dev/null, not a jobserver pool'
exec 8<&- 9>&-
echo "ok: tierun run: fifo:/dev/zero, fds on /dev/zero and /dev/null: a warning, one agent at a time"

# Four `tierun exec`s in one make recipe share the slot make paid for it:
# one at a time, where /dev/zero handed each a token.
cat >Makefile <<MAKEFILE
all:
	+exec 8</dev/zero 9>/dev/zero; for i in 1 2 3 4; do \\
	  MAKEFLAGS='\$(BOGUS)' $TIERUN exec -- $PROBE --log $WORK/\$(LOG) --id \$\$i --hold-ms 100 & \\
	done; wait
MAKEFILE
for bogus in fifo:/dev/zero 8,9; do
  log=exec-${bogus//[:\/,]/-}.log
  timeout 60 make -s BOGUS=" -j4 --jobserver-auth=$bogus" LOG="$log" >"$log.out" 2>&1 ||
    fail "make with tierun exec on $bogus failed: $(cat "$log.out")"
  verify "$log" 1 4
  grep -q "not a jobserver pool\|not a FIFO or a known jobserver device" "$log.out" ||
    fail "tierun exec on $bogus did not warn: $(cat "$log.out")"
done
echo "ok: 4 tierun exec in a make recipe, pool on /dev/zero: a warning each, one at a time"

# Fds 8 and 9 on a terminal (a real pseudo-terminal; its echo off, so the
# screen shows only what is written to it). First with nothing typed:
# tierun exec must not wait for a key. Then with a line typed before it
# starts: it must not take the line as a token, nor write it back.
cat >pty_case.py <<'PYTHON'
import os, pty, select, subprocess, sys, termios
tierun, probe, log = sys.argv[1:4]
screen, terminal = pty.openpty()
modes = termios.tcgetattr(terminal)
modes[3] &= ~termios.ECHO
termios.tcsetattr(terminal, termios.TCSANOW, modes)
os.set_blocking(terminal, False)
for typed in (b"", b"k\n"):
    if typed:  # Waiting for the terminal to read it: a line is there to take.
        os.write(screen, typed)
        if not select.select([terminal], [], [], 20)[0]:
            sys.exit("FAIL: the typed line never reached the terminal")
    os.dup2(terminal, 8)
    os.dup2(terminal, 9)
    env = dict(os.environ, MAKEFLAGS=" -j2 --jobserver-auth=8,9")
    child = subprocess.Popen([tierun, "exec", "--", probe, "--log", log, "--id", "tty%d" % len(typed),
                              "--hold-ms", "0"], env=env, pass_fds=(8, 9),
                             stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = child.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        sys.exit("FAIL: tierun exec waited 20 s for the terminal (typed: %r)" % typed)
    err = err.decode()
    if child.returncode != 0:
        sys.exit("FAIL: tierun exec exited %d: %s" % (child.returncode, err))
    try:
        unread = os.read(terminal, 64)
    except BlockingIOError:
        unread = b""
    if unread != typed:
        sys.exit("FAIL: typed %r, left unread %r: tierun took a keystroke" % (typed, unread))
    if select.select([screen], [], [], 0)[0]:
        sys.exit("FAIL: tierun wrote %r to the terminal" % os.read(screen, 64))
    if "is a terminal" not in err or "not a jobserver pool" not in err:
        sys.exit("FAIL: no warning that fd 8 is a terminal: %r" % err)
    print("ok: fds on a terminal, typed %r: %s" % (typed, err.strip().splitlines()[0]))
PYTHON
/usr/bin/python3 pty_case.py "$TIERUN" "$PROBE" "$WORK/tty.log" || fail "terminal case"
verify tty.log 1 2
