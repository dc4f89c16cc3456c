#!/bin/bash
# A collector whose poll hangs (as a driver call on a lost GPU can) must not
# stall scrapes or other collectors: the watchdog reports it down, its series
# go stale after three intervals, and shutdown still ends within the grace.
. "$(dirname "$0")/lib.sh"
need curl

port=$(free_port)
url="http://127.0.0.1:$port/metrics"
cat > "$WORK/w.yaml" <<YAML
collectors:
  netdev: {interval: 200ms}
  sim: {devices: 2, interval: 200ms, timeout: 300ms, hang_after_polls: 3, hang_for: 600s}
YAML
start_agent --config "$WORK/w.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$port"
wait_http "$url" || fail "agent did not come up"

# Two seconds of scrapes every 100 ms: every one answers within 500 ms.
slow=0; n=0; worst=0
end=$(( $(date +%s%N) + 2000000000 ))
while [ "$(date +%s%N)" -lt "$end" ]; do
  t=$(curl -fsS -o /dev/null --max-time 0.5 -w '%{time_total}' "$url") || slow=$((slow + 1))
  n=$((n + 1))
  worst=$(awk -v a="$worst" -v b="${t:-9}" 'BEGIN{print (b > a) ? b : a}')
  sleep 0.1
done
[ "$slow" = 0 ] || fail "$slow of $n scrapes failed or took over 500 ms while sim hung"
ok "$n scrapes during the hang, slowest ${worst}s"

curl -fsS "$url" > "$WORK/m.txt"
grep -q '^accelmon_collector_up{collector="sim"} 0$' "$WORK/m.txt" || fail "hung collector not reported down: $(grep collector_up "$WORK/m.txt")"
grep -q '^accelmon_collector_up{collector="netdev"} 1$' "$WORK/m.txt" || fail "netdev not up"
grep -q '^accel_utilization_ratio' "$WORK/m.txt" && fail "hung collector's series did not go stale"
# The line names what the poll is stuck in (sim brackets its sleep as a
# vendor call with am_call_begin).
grep -q "sim: poll overran its 0.3s deadline, stuck in simDeviceGetUtilization; reported down until it returns" "$WORK/agent.log" || fail "watchdog did not log what the poll is stuck in: $(cat "$WORK/agent.log")"
ok "watchdog: sim down, its series stale, netdev still up"

# netdev keeps polling: its duration gauge keeps being refreshed.
a=$(grep -c . "$WORK/agent.log")
sleep 0.5
curl -fsS "$url" | grep -q '^fabric_netdev_up{device="eth0"} 1$' || fail "netdev series went stale too"

start=$(date +%s%N)
kill -TERM "$AGENT_PID"
for _ in $(seq 1 60); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$AGENT_PID" 2>/dev/null && fail "agent still running 6 s after SIGTERM with a hung collector"
wait "$AGENT_PID"; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$rc" = 0 ] || fail "exit status $rc"
grep -q "sim: did not stop within 2s (stuck in a poll); abandoned" "$WORK/agent.log" || fail "no abandon line: $(cat "$WORK/agent.log")"
ok "shutdown with a hung collector took ${ms} ms (grace 2 s)"
# --once waits for every poll; a hung one is named there too.
cat > "$WORK/once.yaml" <<YAML
collectors:
  netdev: {enabled: false}
  sim: {devices: 1, interval: 200ms, timeout: 300ms, hang_after_polls: 1, hang_for: 600s}
YAML
timeout 20 "$ACCELMON" --once --config "$WORK/once.yaml" --sysfs "$FIXTURES/netdev/sys" \
  > "$WORK/once.prom" 2> "$WORK/once.err" || fail "--once with a hung collector: $(cat "$WORK/once.err")"
grep -q "sim: poll overran its 0.3s deadline, stuck in simDeviceGetUtilization; reported down" "$WORK/once.err" ||
  fail "--once did not name what the poll is stuck in: $(cat "$WORK/once.err")"
ok "--once names the call a hung poll is stuck in"
echo "watchdog: all checks passed"
