#!/bin/bash
# A full disk under the spool: the spool lives on a 192 KiB tmpfs, smaller
# than spool_max_size, and the receiver is down. Writes that do not fit are
# counted (reason="spool_error"), the agent goes on serving; when the
# receiver comes up, what the spool holds is replayed in order and the
# segments are deleted.
. "$(dirname "$0")/lib.sh"
need curl
RECV="$ABS_BUILDDIR/tests/rw_recv"
[ -x "$RECV" ] || fail "$RECV not built"
[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
mkdir -p "$WORK/spool"
mount -t tmpfs -o size=192k tmpfs "$WORK/spool" 2>/dev/null || skip "cannot mount a tmpfs here"
# The agent first: a tmpfs it still has files open on cannot be unmounted
# (each run used to leave its mount behind).
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
      umount "$WORK/spool" 2>/dev/null; cleanup' EXIT

rport=$(free_port); aport=$(free_port)
cat > "$WORK/a.yaml" <<YAML
collectors:
  sim: {devices: 64}
exporters:
  remote_write:
    url: http://127.0.0.1:$rport/api/v1/write
    interval: 200ms
    max_backoff: 200ms
    spool_dir: $WORK/spool
    spool_max_size: 4MiB
YAML
start_agent --config "$WORK/a.yaml" --listen "127.0.0.1:$aport"
wait_http "http://127.0.0.1:$aport/-/healthy" || fail "agent did not come up: $(cat "$WORK/agent.log")"
u="url=\"http://127.0.0.1:$rport/api/v1/write\""
val() { curl -fsS "http://127.0.0.1:$aport/metrics" |
  awk -v k="$1" 'index($0, k " ") == 1 { print $2 }'; }
for _ in $(seq 1 100); do
  e=$(val "accelmon_remote_write_samples_dropped_total{$u,reason=\"spool_error\"}")
  [ "${e:-0}" -gt 0 ] && break
  sleep 0.1
done
[ "${e:-0}" -gt 0 ] || fail "no spool_error drops; $(df -k "$WORK/spool" | tail -1); $(tail -3 "$WORK/agent.log")"
grep -q "cannot queue .*No space left on device" "$WORK/agent.log" || fail "ENOSPC not logged: $(tail -3 "$WORK/agent.log")"
wait_http "http://127.0.0.1:$aport/-/healthy" 2 || fail "agent stopped serving"
kept=$(val "accelmon_remote_write_spool_bytes{$u}")
[ "${kept:-0}" -gt 100000 ] || fail "spool holds only ${kept:-0} bytes"
ok "disk full: $e samples dropped as spool_error, $kept bytes kept in the spool, /metrics still served"

t_up=$(date +%s%3N)
"$RECV" "$rport" "$WORK/req.log" >"$WORK/recv.out" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 1 100); do
  [ "$(val "accelmon_remote_write_spool_bytes{$u}")" = 0 ] && break
  sleep 0.1
done
[ "$(val "accelmon_remote_write_spool_bytes{$u}")" = 0 ] || fail "spool not drained"
awk '{ if (NR > 1 && $6 < last) { print "out of order: " $0; exit 1 } last = $6 }' "$WORK/req.log" ||
  fail "replay not in order"
first=$(awk 'NR == 1 { print $6 }' "$WORK/req.log")
[ $(( t_up - first )) -gt 1000 ] || fail "first request is not from the spool (ts $first, receiver up at $t_up)"
bad=$(awk '$10 != "ok"' "$WORK/req.log")
[ -z "$bad" ] || fail "receiver found problems: $bad"
sleep 0.5
n=$(ls "$WORK/spool"/*/seg-*.rws 2>/dev/null | wc -l)
[ "$n" = 0 ] || fail "$n segments left after the replay"
ok "receiver back: $(wc -l < "$WORK/req.log") requests in order, the oldest $(( t_up - first )) ms old, spool emptied"
echo "remote_write_disk_full: all checks passed"
