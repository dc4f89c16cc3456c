#!/bin/bash
# The simulator: `accelmon --simulate N` gives N accelerators and N fabric
# ports, every one marked simulated, each playing its scenario (training,
# inference, idle_allocated, failing, throttle, ...; ports steady, flapping,
# congested, errors) through the schema families and the core's derived
# values; a failing device goes down (accel_up 0, its other series stale) and
# comes back with its error counters raised; a flapping port goes down and
# up, counting link_downed. Bad --simulate arguments exit 2.
. "$(dirname "$0")/lib.sh"
need curl

expect2() { # expect2 MESSAGE ARGS...
  local msg=$1 rc; shift
  "$ACCELMON" "$@" > "$WORK/x.out" 2> "$WORK/x.err"; rc=$?
  [ "$rc" = 2 ] || fail "accelmon $*: exit $rc, want 2"
  grep -qF -- "$msg" "$WORK/x.err" || fail "accelmon $*: stderr $(cat "$WORK/x.err"), want $msg"
}
expect2 "collectors.sim.devices: 0 is out of range (1..1024)" --simulate 0 --once
expect2 "--simulate: 'eight' is not a number of devices" --simulate eight --once
printf 'collectors:\n  netdev: {enabled: false}\n  sim: {scenarios: [training, juggling]}\n' > "$WORK/bad.yaml"
expect2 "--simulate and --config" --simulate 2 --config "$WORK/bad.yaml" --once
ok "bad --simulate arguments exit 2"
# A scenario name is checked by the collector's init: it is reported down,
# saying which name.
"$ACCELMON" --config "$WORK/bad.yaml" --once > "$WORK/bad.out" 2> "$WORK/bad.err"
grep -qF 'sim: init failed: Invalid argument: scenarios: no scenario "juggling"' "$WORK/bad.err" ||
  fail "unknown scenario: $(cat "$WORK/bad.err")"
grep -q '^accelmon_collector_up{collector="sim"} 0$' "$WORK/bad.out" || fail "sim with a bad scenario not reported down"
ok "an unknown scenario: sim down, the name in the log"

"$ACCELMON" --once --simulate 8 --sysfs "$FIXTURES/netdev/sys" > "$WORK/s8.prom" 2> "$WORK/s8.err" ||
  fail "--simulate 8 --once: $(cat "$WORK/s8.err")"
m=$WORK/s8.prom
[ "$(grep -c '^accel_info{' "$m")" = 8 ] || fail "want 8 accel_info: $(grep '^accel_info' "$m")"
[ "$(grep -c '^accel_info{.*vendor="simulated",.*driver_version="simulated",firmware_version="simulated"} 1$' "$m")" = 8 ] ||
  fail "an accel_info not marked simulated: $(grep '^accel_info' "$m")"
grep '^accel_info{' "$m" | grep -v 'uuid="SIM-' && fail "a simulated uuid without SIM-"
[ "$(grep -c '^fabric_port_info{device="simhca[0-7]",.*firmware_version="simulated"' "$m")" = 8 ] ||
  fail "want 8 simulated fabric_port_info: $(grep '^fabric_port_info' "$m")"
if command -v promtool > /dev/null; then
  promtool check metrics < "$m" > "$WORK/lint" 2>&1 || fail "promtool check metrics: $(cat "$WORK/lint")"
fi
ok "--simulate 8: 8 accelerators and 8 ports, all marked simulated, $(grep -vc '^#' "$m") samples, promtool clean"

# value DEVICE_SERIES_PREFIX: the value of the one sample starting so.
value() { grep -F "$1" "$m" | head -1 | awk '{print $2}'; }
id() { printf '{device="sim%d",uuid="SIM-00000000-0000-0000-0000-%012d"' "$1" "$1"; }
check() { # check WHAT GOT WANT (equal to 1e-6: derived ratios of counters)
  awk -v g="$2" -v w="$3" 'BEGIN { d = g - w; exit !(g != "" && d < 1e-6 && d > -1e-6) }' ||
    fail "$1: '$2', want $3"
}
check "training sim0 utilization" "$(value "accel_utilization_ratio$(id 0)}")" 0.95
check "training sim0 tensor active" "$(value "accel_tensor_active_ratio$(id 0)}")" 0.6
check "inference sim1 in a burst" "$(value "accel_utilization_ratio$(id 1)}")" 0.9
check "idle_allocated sim2 utilization" "$(value "accel_utilization_ratio$(id 2)}")" 0
check "idle_allocated sim2 memory used" "$(value "accel_memory_used_bytes$(id 2)}")" 48000000000
check "idle_allocated sim2 processes" "$(value "accel_compute_processes$(id 2)}")" 1
check "failing sim3 up at first" "$(value "accel_up$(id 3)}")" 1
check "throttle sim4 graphics clock" "$(value "accel_clock_hertz$(id 4),clock=\"graphics\"}")" 1188000000
check "throttle sim4 temperature" "$(value "accel_temperature_celsius$(id 4),sensor=\"gpu\"}")" 88
check "idle sim7 processes" "$(value "accel_compute_processes$(id 7)}")" 0
check "congested simhca2 transmit utilization (derived)" \
  "$(value 'fabric_port_utilization_ratio{device="simhca2",port="1",direction="transmit"}')" 0.95
check "errors simhca3 port_rcv_errors saturated (derived)" \
  "$(value 'fabric_port_stat_saturated{device="simhca3",port="1",counter="port_rcv_errors"}')" 1
check "steady simhca0 symbol_error not saturated" \
  "$(value 'fabric_port_stat_saturated{device="simhca0",port="1",counter="symbol_error"}')" 0
ok "scenarios: training, inference, idle_allocated, failing, throttle, idle; ports congested, errors"

# Live: sim3 fails after 1 s for 1 s; simhca1 flaps (down 0.4 s of 2 s).
port=$(free_port)
cat > "$WORK/live.yaml" <<YAML
collectors:
  netdev: {enabled: false}
  sim: {devices: 4, demo: true, interval: 100ms, fail_after: 1s, fail_for: 1.5s, flap_period: 2s}
YAML
start_agent --config "$WORK/live.yaml" --listen "127.0.0.1:$port"
url="http://127.0.0.1:$port/metrics"
wait_http "$url" || fail "agent did not come up: $(cat "$WORK/agent.log")"
down=""; back=""; pdown=""; pup_again=""
end=$(( $(date +%s) + 15 ))
while [ "$(date +%s)" -le "$end" ]; do
  curl -fsS "$url" > "$WORK/m.txt" || fail "scrape failed"
  if grep -q "^accel_up$(id 3)} 0$" "$WORK/m.txt"; then
    # down: its other series are gone after three intervals
    grep -q "^accel_utilization_ratio$(id 3)}" "$WORK/m.txt" || down=1
  elif [ -n "$down" ] && grep -q "^accel_up$(id 3)} 1$" "$WORK/m.txt"; then
    grep -q "^accel_ecc_errors_total$(id 3),type=\"uncorrected\",block=\"\"} 1$" "$WORK/m.txt" &&
      grep -q "^accel_error_events_total$(id 3),code=\"79\"} 1$" "$WORK/m.txt" && back=1
  fi
  if grep -q '^fabric_port_up{device="simhca1",port="1"} 0$' "$WORK/m.txt"; then
    pdown=1
  elif [ -n "$pdown" ] && grep -q '^fabric_port_up{device="simhca1",port="1"} 1$' "$WORK/m.txt"; then
    grep -q '^fabric_port_errors_total{device="simhca1",port="1",type="link_downed"} [1-9]' "$WORK/m.txt" &&
      pup_again=1
  fi
  [ -n "$back" ] && [ -n "$pup_again" ] && break
  sleep 0.1
done
[ -n "$down" ] || fail "sim3 never went down with its series stale: $(grep 'sim3"' "$WORK/m.txt" | head -5)"
[ -n "$back" ] || fail "sim3 never came back with 1 uncorrected ECC error and 1 Xid 79: $(grep 'sim3"' "$WORK/m.txt" | grep -E 'up|ecc|error_events')"
ok "failing sim3: down (accel_up 0, series stale), back up with its ECC and Xid 79 counters at 1"
[ -n "$pup_again" ] || fail "simhca1 never flapped: $(grep 'simhca1' "$WORK/m.txt" | grep -E 'port_up|link_downed')"
ok "flapping simhca1: down and up again, link_downed counted"
echo "simulate: all checks passed"
