#!/usr/bin/env bash
# `tierun serve -j4 -- make` (no -j for make: it joins the pool from MAKEFLAGS)
# where the Makefile recurses into three sub-makes, each with `+tierun exec`
# and plain jobs: at most 4 at once, every run once, audit clean.
source "$(dirname "$0")/lib.sh"

for sub in a b c; do
  mkdir "$sub"
  {
    echo 'ALL := $(addprefix exec,1 2 3 4 5) $(addprefix plain,1 2 3)'
    echo 'all: $(ALL)'
    echo 'exec%:'
    echo "	+$TIERUN exec -- $PROBE --log $WORK/log --id $sub-\$@ --hold-ms 150"
    echo 'plain%:'
    echo "	$PROBE --log $WORK/log --id $sub-\$@ --hold-ms 150"
  } >"$sub/Makefile"
done
{
  echo 'all: a b c'
  echo 'a b c:'
  echo '	$(MAKE) -s -C $@'
  echo '.PHONY: a b c'
} >Makefile

timeout 120 "$TIERUN" serve -j4 --audit -- make -s >out 2>err || fail "serve failed: $(cat err)"
expect_no_match err 'warning|INTERNAL' "make or tierun reported jobserver trouble"
expect_clean_audit err 4
verify log 4 24 --expect-reached

# make 4.3 cannot read a fifo: pool; asking for one says so and how to fix it.
if make --version | head -1 | grep -q '^GNU Make \([0-3]\.\|4\.[0-3]\)'; then
  "$TIERUN" serve -j2 --style fifo -- true 2>fifo.err || fail "serve --style fifo failed"
  grep -q "older than 4.4 .* use --style pipe or auto" fifo.err ||
    fail "no fifo warning: $(cat fifo.err)"
fi
echo "ok: 24 runs in 3 sub-makes under tierun serve -j4; fifo style warned about make 4.3"
