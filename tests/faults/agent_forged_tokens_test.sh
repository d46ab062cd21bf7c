#!/usr/bin/env bash
# An agent writes five '+' bytes into the pool its MAKEFLAGS names: tokens
# nobody read, which a client cannot tell from real ones. tierun run -j2
# created that pool, so it knows N = 2: it never runs more than 2 agents at
# once, whatever the pool holds, and at the end says how many tokens the
# pool held beyond those it gave out. Both pool styles: a pipe (the agent
# writes to the fd MAKEFLAGS names) and a fifo (it opens the path); tierun
# picks the style from the make on PATH, so a stand-in `make --version`
# chooses it.
#
# Found by this test: with its own pool tierun set no cap, so the five
# forged tokens started five more agents (7 at once under -j2) and only
# the audit at the end noticed ("6 of 1 tokens returned, 5 extra").
source "$(dirname "$0")/../integration/lib.sh"

cat >agent.sh <<AGENT
#!/usr/bin/env bash
set -euo pipefail
if [[ \$TIERUN_RUN == 1 ]]; then
  if [[ \$MAKEFLAGS =~ --jobserver-auth=fifo:([^\ ]+) ]]; then
    echo fifo >"$WORK/style"
    printf '+++++' >"\${BASH_REMATCH[1]}"
  elif [[ \$MAKEFLAGS =~ --jobserver-auth=([0-9]+),([0-9]+) ]]; then
    echo pipe >"$WORK/style"
    printf '+++++' >&"\${BASH_REMATCH[2]}"
  else
    echo "no pool in MAKEFLAGS='\$MAKEFLAGS'" >&2
    exit 1
  fi
fi
exec "$PROBE" --log "$WORK/log" --id "\$TIERUN_RUN" --hold-ms 400
AGENT
chmod +x agent.sh
{
  echo '[experiment]'
  echo 'name = "forged"'
  echo 'runs = 6'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$WORK/agent.sh")"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["only"]'
} >plan.toml

# run_case STYLE MAKE_VERSION: tierun run -j2 with a `make` of that version
# first on PATH (pipe below 4.4, fifo from 4.4 on).
run_case() {
  local style=$1 version=$2
  rm -rf results log style
  mkdir -p "make-$version"
  printf '#!/bin/sh\necho "GNU Make %s"\n' "$version" >"make-$version/make"
  chmod +x "make-$version/make"
  PATH="$WORK/make-$version:$PATH" timeout 60 "$TIERUN" run plan.toml -j2 --progress none \
    >"$style.out" 2>"$style.err" || fail "$style: tierun run failed: $(cat "$style.err")"
  [[ $(cat style) == "$style" ]] || fail "$style: the agent saw a $(cat style) pool"
  verify log 2 6
  grep -q "jobserver audit: 6 of 1 tokens returned: the pool held 5 more tokens than it gave out; no more than 2 agents ran at once all the same" \
    "$style.err" || fail "$style: no audit naming the 5 forged tokens: $(cat "$style.err")"
  echo "ok: $style pool: 5 forged tokens, at most 2 agents at once, and the audit said so"
}

run_case pipe 4.3
run_case fifo 4.4

# tierun serve cannot cap what CMD starts (make reads the forged tokens as
# it likes), but its audit says plainly what happened.
for style in pipe fifo; do
  # shellcheck disable=SC2016 # expanded by the inner shell
  "$TIERUN" serve -j2 --style "$style" -- bash -c '
    if [[ $MAKEFLAGS =~ fifo:([^\ ]+) ]]; then printf +++++ >"${BASH_REMATCH[1]}"
    elif [[ $MAKEFLAGS =~ =([0-9]+),([0-9]+) ]]; then printf +++++ >&"${BASH_REMATCH[2]}"; fi' \
    2>"serve-$style.err" || fail "serve $style: $(cat "serve-$style.err")"
  grep -q "tierun serve: jobserver audit (-j2, $style): 6 of 1 tokens returned: the pool held 5 more tokens than it gave out\$" \
    "serve-$style.err" || fail "serve $style: no audit naming the 5 tokens: $(cat "serve-$style.err")"
  echo "ok: tierun serve ($style): the audit named the 5 forged tokens"
done
