#!/usr/bin/env bash
# An agent moves the experiment directory away while tierun runs and puts a
# symlink to another directory at its name:
#   E=$(dirname $(dirname $(dirname $TIERUN_RUN_DIR))); mv $E $E.moved; ln -s elsewhere $E
# tierun opened the experiment directory once, before any agent started, and
# writes everything through that descriptor: the run report, report.json,
# report.md, junit.xml and `--junit results/swapped/ci.xml` (a path through
# the experiment directory) all land in results/swapped.moved; nothing
# appears in `elsewhere`. tierun says the directory was replaced and where
# the results went, and exits 3.
# `tierun report DIR` the same: DIR is opened first and swapped while the
# report waits for the setup lock (held here), after it says it waits.
source "$(dirname "$0")/../integration/lib.sh"

mkdir elsewhere
cat >swapper.sh <<'AGENT'
#!/bin/sh
E=$(dirname "$(dirname "$(dirname "$TIERUN_RUN_DIR")")")
mv "$E" "$E.moved" && ln -s "$ELSEWHERE" "$E"
AGENT
chmod +x swapper.sh
{
  echo '[experiment]'
  echo 'name = "swapped"'
  echo 'runs = 1'
  echo 'results = "results"'
  echo '[agent]'
  echo "command = $(toml_list "$WORK/swapper.sh")"
  echo "env = { ELSEWHERE = \"$WORK/elsewhere\" }"
  echo '[[tier]]'
  echo 'id = "A"'
  echo 'subtests = ["only"]'
} >plan.toml
dir=results/swapped

status=0
timeout 60 "$TIERUN" run plan.toml -j1 --progress none --junit "$dir/ci.xml" >out 2>err || status=$?
[[ -z $(ls -A elsewhere) ]] || fail "written through the swapped-in link: $(ls -A elsewhere)"
[[ $status -eq 3 ]] || fail "exit $status, expected 3: $(cat err)"
[[ -L $dir && -d $dir.moved ]] || fail "the agent did not swap the directory"
here=$(pwd -P)
grep -qF "$here/$dir was replaced while tierun ran (the directory tierun opened is now $here/$dir.moved)" err ||
  fail "it did not say the directory was replaced, and where it is: $(cat err)"
for file in report.json report.md junit.xml ci.xml A/report.json A/only/report.json \
  A/only/run_01/report.json; do
  [[ -s $dir.moved/$file ]] || fail "$dir.moved/$file was not written"
done
[[ $(json_get "$dir.moved/report.json" 'd["runs"]') -eq 1 ]] || fail "report.json does not count the run"
grep -qF "($here/$dir.moved/report.md, report.json, junit.xml)" out ||
  fail "the reports' place printed is not the directory tierun opened: $(tail -1 out)"
# tierun report, the directory swapped while it waits for the setup lock.
rm "$dir" && mv "$dir.moved" "$dir" && rm "$dir/report.json" "$dir/junit.xml"
exec {lock_fd}>"results/.swapped.setup.lock"
flock -x "$lock_fd"
mkfifo report.err
"$TIERUN" report "$dir" >report.out 2>report.err {lock_fd}>&- &
report_pid=$!
exec {err_fd}<report.err
read -r -t 60 line <&"$err_fd" || fail "tierun report did not say it waits for the setup lock"
[[ $line == "tierun report: waiting for "*".swapped.setup.lock"* ]] || fail "tierun report: $line"
mv "$dir" "$dir.moved" && ln -s "$WORK/elsewhere" "$dir"
exec {lock_fd}>&-
status=0
wait "$report_pid" || status=$?
cat <&"$err_fd" >report.err.rest
[[ -z $(ls -A elsewhere) ]] || fail "tierun report wrote through the swapped-in link: $(ls -A elsewhere)"
[[ $status -eq 3 ]] || fail "tierun report: exit $status, expected 3: $(cat report.err.rest)"
grep -qF "tierun report: $dir was replaced while tierun ran (the directory tierun opened is now $here/$dir.moved)" report.err.rest ||
  fail "tierun report did not say the directory was replaced: $(cat report.err.rest)"
[[ -s $dir.moved/report.json && -s $dir.moved/junit.xml ]] || fail "tierun report did not write into the directory it opened"
echo "ok: a swapped experiment directory: every report in the directory tierun opened, none through the link; said, exit 3"
