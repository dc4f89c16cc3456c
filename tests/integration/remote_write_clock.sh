#!/bin/bash
# Wall-clock jumps under remote write (libfaketime moves the agent's
# CLOCK_REALTIME; the monotonic clock is left alone): when the clock goes
# back 5 s, the jump is logged and pushes wait until it passes the last
# sent time, so timestamps stay strictly increasing; a jump forward is
# logged and pushing goes on.
. "$(dirname "$0")/lib.sh"
need curl
# libfaketime is an LD_PRELOAD library: ASan insists on coming first
if ldd "$ACCELMON" | grep -q libasan; then skip "ASan build (LD_PRELOAD of libfaketime)"; fi
RECV="$ABS_BUILDDIR/tests/rw_recv"
[ -x "$RECV" ] || fail "$RECV not built"
FT=""
for f in /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1; do
  [ -f "$f" ] && FT=$f && break
done
[ -n "$FT" ] || skip "libfaketime is not installed"

rport=$(free_port); aport=$(free_port)
"$RECV" "$rport" "$WORK/req.log" >"$WORK/recv.out" 2>&1 &
PIDS="$PIDS $!"
cat > "$WORK/a.yaml" <<YAML
collectors:
  netdev: {}
exporters:
  remote_write:
    url: http://127.0.0.1:$rport/api/v1/write
    interval: 500ms
YAML
echo "+0" > "$WORK/ft"
LD_PRELOAD=$FT FAKETIME_TIMESTAMP_FILE="$WORK/ft" FAKETIME_NO_CACHE=1 \
  FAKETIME_DONT_FAKE_MONOTONIC=1 \
  start_agent --config "$WORK/a.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$aport"
wait_http "http://127.0.0.1:$aport/-/healthy" || fail "agent did not come up: $(cat "$WORK/agent.log")"
for _ in $(seq 1 50); do [ "$(wc -l < "$WORK/req.log")" -ge 3 ] && break; sleep 0.1; done
[ "$(wc -l < "$WORK/req.log")" -ge 3 ] || fail "no pushes: $(cat "$WORK/agent.log")"

echo "-5" > "$WORK/ft"
t_back=$(date +%s%3N)
sleep 7
[ "$(grep -c "wall clock went back" "$WORK/agent.log")" = 1 ] || fail "clock going back not logged once: $(tail -3 "$WORK/agent.log")"
grep -q "pushing again" "$WORK/agent.log" || fail "end of the pause not logged: $(tail -3 "$WORK/agent.log")"
# No request carried a timestamp at or before an earlier one.
awk '{ if (NR > 1 && $6 <= last) { print "not after the last: " $0; exit 1 } last = $6 }' \
  "$WORK/req.log" || fail "timestamps went back: $(cat "$WORK/req.log")"
# Pushes paused about 5 s, then went on.
gap=$(awk -v t="$t_back" '$2 > t - 1000 { if (p && $2 - p > g) g = $2 - p; p = $2 } END { print g + 0 }' "$WORK/req.log")
after=$(awk -v t="$t_back" '$2 > t + 5500' "$WORK/req.log" | wc -l)
[ "$gap" -ge 4000 ] && [ "$after" -ge 1 ] || fail "gap $gap ms, $after pushes after it: $(tail -15 "$WORK/req.log")"
ok "clock back 5 s: logged, pushes paused ${gap} ms, timestamps strictly increasing, $after pushes after"

echo "+60" > "$WORK/ft"
sleep 2
grep -q "wall clock jumped +" "$WORK/agent.log" || fail "jump forward not logged: $(tail -3 "$WORK/agent.log")"
last=$(awk 'END { print $6 }' "$WORK/req.log")
now=$(date +%s%3N)
[ $(( last - now )) -gt 50000 ] || fail "pushes did not follow the clock forward ($last vs $now)"
ok "clock forward 60 s: logged, pushes go on at the new time"
echo "remote_write_clock: all checks passed"
