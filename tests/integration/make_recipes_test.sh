#!/usr/bin/env bash
# make -j4 (GNU make 4.3, pipe jobserver) runs 40 jobs: `+tierun exec` recipes
# that make runs directly, ones it runs through a shell, a recipe that starts
# eight `tierun exec` in the background, and plain make jobs. The locked log
# must show at most 4 agents at once, all 48 runs, the limit reached, and make
# must report no jobserver trouble (it checks its tokens at exit).
source "$(dirname "$0")/lib.sh"

{
  echo "LOG := $WORK/log"
  echo 'ALL := $(addprefix direct,1 2 3 4 5 6 7 8 9 10 11 12) \'
  echo '  $(addprefix shell,1 2 3 4 5 6 7 8 9 10 11 12) \'
  echo '  $(addprefix plain,1 2 3 4 5 6 7 8 9 10 11 12) \'
  echo '  $(addprefix burst,1 2 3)'
  echo 'all: $(ALL)'
  echo 'direct%:'
  echo "	+$TIERUN exec -- $PROBE --log \$(LOG) --id \$@ --hold-ms 150"
  echo 'shell%:'
  echo "	+@cd . && $TIERUN exec -- $PROBE --log \$(LOG) --id \$@ --hold-ms 150 && true"
  echo 'plain%:'
  echo "	$PROBE --log \$(LOG) --id \$@ --hold-ms 150"
  echo 'burst%:'
  echo "	+for i in 1 2 3 4; do $TIERUN exec -- $PROBE --log \$(LOG) --id \$@-\$\$i --hold-ms 150 & done; wait"
} >Makefile

timeout 120 make -j4 -s >out 2>err || fail "make failed: $(cat err)"
expect_no_match err 'jobserver|INTERNAL|warning' "make or tierun reported jobserver trouble"
verify log 4 48 --expect-reached
echo "ok: 48 runs under make -j4"
