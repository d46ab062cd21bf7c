#!/usr/bin/env bash
# A second Ctrl-C skips the grace period: agents that ignore SIGTERM, a grace
# of an hour, two SIGINTs -- tierun run exits 130 at once (well within the
# test's timeout), with every agent killed and every token back.
source "$(dirname "$0")/lib.sh"

mkfifo notify
exec {notify_fd}<>notify
cat >plan.toml <<PLAN
[experiment]
name = "second"
[agent]
command = ["$PROBE", "--log", "$WORK/log", "--id", "{tier}-{subtest}", "--hold-ms", "-1",
           "--ignore-sigterm", "--notify", "$WORK/notify"]
[[tier]]
id = "T0"
subtests = 2
PLAN
cat >interrupt.sh <<SCRIPT
"\${@}" &
runner=\$!
read -r _ <&$notify_fd; read -r _ <&$notify_fd
kill -INT \$runner
# Two signals sent at once merge into one: wait until the first was handled.
grep -q -m1 '"event":"stop"' < <(timeout 30 tail -n +1 -F "$WORK/results/second/events.jsonl" 2>/dev/null)
kill -INT \$runner
wait \$runner; echo "status=\$?"
SCRIPT
timeout 60 "$TIERUN" serve -j3 --audit -- bash interrupt.sh "${DEFAULT_SIGINT[@]}" \
  "$TIERUN" run plan.toml --grace 3600 --progress none >out 2>err ||
  fail "serve failed or timed out: $(cat err)"
grep -qx "status=130" out || fail "tierun run: $(cat out), expected status=130"
expect_clean_audit err 3
pids=$(awk '$1 == "begin" { print $3 }' log)
[[ $(wc -w <<<"$pids") -eq 2 ]] || fail "expected 2 agents, log: $(cat log)"
wait_gone $pids
echo "ok: two SIGINTs ended tierun run at once; exit 130; audit clean"
