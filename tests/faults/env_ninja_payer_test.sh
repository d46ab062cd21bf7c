#!/usr/bin/env bash
# `tierun serve -j2 -- ninja -j8` and `-- ninja`, with eight edges of
# `tierun exec -- probe`: never more than 2 at once, with Debian's ninja 1.11
# (which joins no pool) and ninja 1.13 (which joins only `fifo:` pools, and
# none at all under any -j). ninja pays for its edges only when it joined the
# pool; otherwise its edges share the one slot ninja was paid.
#
# Found by this test: ninja 1.13 was taken for a payer by its version alone,
# so under -j8 (or a pipe pool) each edge's exec ran on an implicit slot
# nobody had paid: 8 at once under -j2 (3 under a pipe pool without -j). And
# `--style auto` picked a pipe pool for ninja 1.13, which it ignores.
#
# ninja 1.13 comes from `make deps` (scripts/fetch-newer-ninja.sh, into
# .tools/ninja-1.13); without it that half is skipped (exit 77) and says so.
source "$(dirname "$0")/../integration/lib.sh"

{
  echo 'rule probe'
  echo "  command = $TIERUN exec -- $PROBE --log $WORK/log --id \$out --hold-ms 200"
  for edge in 1 2 3 4 5 6 7 8; do echo "build e$edge: probe"; done
} >build.ninja

# check NINJA STYLE EXPECTED_STYLE [NINJA ARGS...]: eight edges under
# `tierun serve -j2 --style STYLE`, at most 2 at once (and 2 reached), the
# audit clean and of EXPECTED_STYLE.
check() {
  local ninja=$1 style=$2 expected=$3
  shift 3
  rm -f log .ninja_log .ninja_deps
  timeout 60 "$TIERUN" serve -j2 --style "$style" --audit -- "$ninja" "$@" >out 2>err ||
    fail "serve -j2 --style $style -- $ninja $*: failed or hung: $(cat err out)"
  grep -q "jobserver audit (-j2, $expected): 1 of 1 tokens returned" err ||
    fail "--style $style -- $ninja $*: expected a clean $expected pool: $(grep audit err)"
  local verdict
  verdict=$("$VERIFY" log --limit 2 --expect-count 8 --expect-reached 2>&1) ||
    fail "ninja $("$ninja" --version) $*, --style $style: $verdict"
  echo "ninja $("$ninja" --version) ${*:-without -j} (--style $style, $expected pool): $verdict"
}

if debian_ninja=$(command -v ninja) && ! "$debian_ninja" --version | grep -q '^1\.1[3-9]'; then
  # ninja < 1.13 joins nothing: auto follows the make on PATH (4.3: pipe).
  check "$debian_ninja" auto pipe -j8
  check "$debian_ninja" auto pipe
  check "$debian_ninja" fifo fifo
else
  echo "note: no ninja older than 1.13 on PATH (apt-get install ninja-build); that half skipped"
fi

newer=${TIERUN_TOOLS_DIR:-}/ninja-1.13/ninja
if [[ ! -x $newer ]]; then
  echo "SKIP: no ninja 1.13 in ${TIERUN_TOOLS_DIR:-.tools}/ninja-1.13 (make deps builds it from" \
    "Debian's ninja-build source package; no network, no ninja 1.13)"
  exit 77
fi
check "$newer" auto fifo -j8  # joins nothing under -j: its edges share its slot
check "$newer" auto fifo      # auto picks fifo for it: it joins and pays
check "$newer" pipe pipe      # it ignores a pipe pool: its edges share its slot
check "$newer" fifo fifo -j0
echo "ok: ninja 1.11 and 1.13 under tierun serve -j2, with and without -j: never over 2"
