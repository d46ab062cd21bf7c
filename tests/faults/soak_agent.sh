#!/usr/bin/env bash
# The agent of the soak (soak_test.sh). Hostile on purpose: it picks one of
# five behaviours from a hash of its run's key (tier/subtest/run), so a run
# started again in a later session behaves as it did before:
#   normal    a probe, nothing else;
#   detach    a worker detached with `setsid -f` that runs until killed;
#   bomb      a fork bomb bounded by depth (63 processes), detached or not,
#             every process blocked for ever;
#   results   a 2 GB sparse result.json, or hostile JSON (not an object,
#             numbers past every range, 100,000 levels of nesting, bytes
#             that are not UTF-8);
#   stubborn  a probe that ignores SIGTERM and holds past the timeout, beside
#             a process of its group that ignores SIGTERM for ever.
# Every process it leaves behind carries "$SOAK_MARK:s<session>:<key>:" in
# its arguments, so anyone can tell which run of which session it belongs
# to. Its first act is to count the runs whose marked processes are alive,
# of this session and of earlier ones, and log the counts.
#
# Environment (from the soak): SOAK_MARK, SOAK_SESSION, SOAK_LOGS (a
# directory), PROBE; TIERUN_* from tierun.
set -euo pipefail

key=$TIERUN_TIER/$TIERUN_SUBTEST/$TIERUN_RUN
tag=$SOAK_MARK:s$SOAK_SESSION:$key
behaviours=(normal detach bomb results stubborn)
hash=$(md5sum <<<"$key")
behaviour=${behaviours[16#${hash:0:6} % 5]}
variant=$((16#${hash:6:6} % 6))

# Distinct runs with a live (not zombie) marked process: "SAME OLDER", of
# this session and of earlier ones. The marker reaches awk by its
# environment, never its arguments, or awk would count itself.
count_alive_runs() {
  ps -eo stat=,args= | awk -v session="s$SOAK_SESSION" '
    BEGIN { mark = ENVIRON["SOAK_MARK"] ":" }
    $1 ~ /^Z/ { next }
    {
      at = index($0, mark)
      if (!at) next
      split(substr($0, at + length(mark)), field, ":")
      if (field[1] == session) same[field[2]] = 1
      else older[field[1] ":" field[2]] = 1
    }
    END { print length(same), length(older) }'
}
echo "s$SOAK_SESSION $key $behaviour $(count_alive_runs)" >>"$SOAK_LOGS/alive"

# The agent's own probe, exec'd last so the agent's pid is the probe's. It
# ignores SIGTERM: a timeout's SIGTERM must not keep it from logging its end
# (the log is replayed for the limit); SIGKILL comes only after --grace.
hold_ms=$((5 + variant * 5))
probe_last() {
  exec "$PROBE" --log "$SOAK_LOGS/main" --id "$tag:agent" --hold-ms "$1" --ignore-sigterm
}

detach() {
  mkfifo "$TIERUN_RUN_DIR/ready"
  setsid -f "$PROBE" --log "$SOAK_LOGS/workers" --id "$tag:worker" --hold-ms -1 \
    --notify "$TIERUN_RUN_DIR/ready" </dev/null >/dev/null 2>&1
  read -r _ <"$TIERUN_RUN_DIR/ready"
}

# A binary tree of subshells, 5 levels below its root: 63 processes, each
# with the root's arguments (a fork keeps them), each telling the agent it
# is up (a byte on fd 5) and then blocked on a FIFO nobody writes (fd 6,
# opened read-write so the open never waits). Never more: the machine is
# shared.
bomb() {
  mkfifo "$TIERUN_RUN_DIR/up" "$TIERUN_RUN_DIR/hold"
  exec 5<>"$TIERUN_RUN_DIR/up" 6<>"$TIERUN_RUN_DIR/hold"
  local script='grow() {
    if (($1 < 5)); then grow $(($1 + 1)) & grow $(($1 + 1)) & fi
    printf x >&5
    read -r _ <&6
  }
  grow 0'
  if ((variant % 2)); then
    setsid -f bash -c "$script" bomb "$tag:bomb" </dev/null >/dev/null 2>&1
  else
    bash -c "$script" bomb "$tag:bomb" </dev/null >/dev/null 2>&1 &
  fi
  head -c 63 <&5 >/dev/null
  exec 5>&- 6>&-
}

hostile_result() {
  local file=$TIERUN_RUN_DIR/result.json
  case $variant in
    0) truncate -s 2G "$file" ;;
    1) echo '[true, 0.5, "not an object"]' >"$file" ;;
    2) echo '{"passed": true, "score": 1e999, "cost_usd": -1e308}' >"$file" ;;
    3) { printf '{"passed": '; printf '%.0s[' {1..100000}; printf '%.0s]' {1..100000}; echo '}'; } >"$file" ;;
    4) echo '{"passed": true, "tokens": {"input": 123456789012345678901234567890}}' >"$file" ;;
    5) printf '{"passed": true, "score": 0.5, "note": "\xff\xfe\xc0' >"$file" ;;
  esac
}

case $behaviour in
  normal) probe_last "$hold_ms" ;;
  detach) detach && probe_last "$hold_ms" ;;
  bomb) bomb && probe_last "$hold_ms" ;;
  results) hostile_result && probe_last "$hold_ms" ;;
  stubborn)
    "$PROBE" --log "$SOAK_LOGS/stubborn" --id "$tag:stubborn" --hold-ms -1 --ignore-sigterm \
      </dev/null >/dev/null 2>&1 &
    # Past the plan's 1 s timeout, within its grace: SIGTERM, ignored, then
    # the probe's own end.
    probe_last 1300
    ;;
esac
