#!/bin/bash
# No loss at the largest sizes the configs accept, run for about a minute:
# netdev on a generated tree of 250 interfaces (each poll ~5000 samples) and
# sim with devices: 1024 (9216 samples a poll), both polling fast. Every
# scrape must show zero dropped samples and every series of every interface
# and device, counted exactly. Under TSan a race makes the agent exit 66.
. "$(dirname "$0")/lib.sh"
need curl
long_test race

NIFS=250
NDEV=1024
RUN_S=${NODROP_RUN_S:-50}

# sysfs tree laid out as tests/fixtures/netdev/sys: class/net/<if>/ with
# statistics/<16 counters>, operstate, speed, mtu, address, duplex and a
# device link (a directory is enough for physical_only).
stats="rx_bytes rx_packets rx_errors rx_dropped rx_fifo_errors rx_frame_errors
rx_compressed multicast tx_bytes tx_packets tx_errors tx_dropped tx_fifo_errors
collisions tx_carrier_errors tx_compressed"
net="$WORK/sys/class/net"
for i in $(seq 0 $((NIFS - 1))); do
  d="$net/nd$i"
  mkdir -p "$d/statistics" "$d/device"
  k=0
  for f in $stats; do echo $((i * 100 + k)) > "$d/statistics/$f"; k=$((k + 1)); done
  echo up > "$d/operstate"
  echo 100000 > "$d/speed"
  echo 9000 > "$d/mtu"
  printf '02:00:00:00:%02x:%02x\n' $((i / 256)) $((i % 256)) > "$d/address"
  echo full > "$d/duplex"
  echo 0x15b3 > "$d/device/vendor"
done
[ "$(ls "$net" | wc -l)" = "$NIFS" ] || fail "fixture has $(ls "$net" | wc -l) interfaces, want $NIFS"

port=$(free_port)
url="http://127.0.0.1:$port"
cat > "$WORK/a.yaml" <<YAML
collectors:
  netdev: {interval: 500ms, timeout: 5s}
  sim: {devices: $NDEV, interval: 200ms}
YAML
start_agent --config "$WORK/a.yaml" --sysfs "$WORK/sys" --listen "127.0.0.1:$port"
wait_http "$url/-/healthy" 20 || fail "agent did not answer: $(cat "$WORK/agent.log")"
# Each collector's thread prints its startup line when its init is done.
for want in "netdev: $NIFS interfaces under" "sim: $NDEV simulated accelerators"; do
  for _ in $(seq 1 100); do grep -q "$want" "$WORK/agent.log" && break; sleep 0.1; done
  grep -q "$want" "$WORK/agent.log" || fail "no '$want' line: $(cat "$WORK/agent.log")"
done

# check SCRAPE: zero drops for both collectors, and exactly every series.
# Per interface: 16 counters, up, speed, mtu, info = 20; per device: 9.
check() {
  local m=$1 n v
  for c in netdev sim; do
    v=$(sed -n "s/^accelmon_ring_dropped_samples_total{collector=\"$c\"} //p" "$m")
    [ "$v" = 0 ] || fail "$c dropped samples: '${v:-no such line}' ($2)"
  done
  n=$(grep -c '^fabric_netdev_' "$m")
  [ "$n" = $((NIFS * 20)) ] || fail "$n netdev series, want $((NIFS * 20)) ($2)"
  n=$(sed -n 's/^fabric_netdev_receive_bytes_total{device="\([^"]*\)"}.*/\1/p' "$m" | sort -u | wc -l)
  [ "$n" = "$NIFS" ] || fail "$n interfaces exported, want $NIFS ($2)"
  n=$(grep -c '^accel_' "$m")
  [ "$n" = $((NDEV * 9)) ] || fail "$n sim series, want $((NDEV * 9)) ($2)"
  n=$(sed -n 's/^accel_up{device="\([^"]*\)".*} 1$/\1/p' "$m" | sort -u | wc -l)
  [ "$n" = "$NDEV" ] || fail "$n devices up, want $NDEV ($2)"
  grep -q '^fabric_netdev_receive_packets_total{device="nd249"} 24901$' "$m" ||
    fail "nd249 rx_packets value ($2)"
  grep -q '^accel_power_watts{device="sim1023",uuid="SIM-00000000-0000-0000-0000-000000001023"} 325$' "$m" ||
    fail "sim1023 power value ($2)"
}

# The first complete snapshot comes after both collectors' first polls.
deadline=$(( $(date +%s) + 15 ))
until curl -fsS "$url/metrics" > "$WORK/m.txt" 2>/dev/null &&
      grep -q '^accelmon_ring_dropped_samples_total{collector="netdev"}' "$WORK/m.txt" &&
      grep -q '^accelmon_ring_dropped_samples_total{collector="sim"}' "$WORK/m.txt"; do
  [ "$(date +%s)" -le "$deadline" ] || fail "no snapshot with both collectors: $(tail -5 "$WORK/agent.log")"
  sleep 0.2
done
sleep 1 # a publish after the first polls were drained (rendered at most every 200ms)
curl -fsS "$url/metrics" > "$WORK/m.txt" || fail "first scrape"
check "$WORK/m.txt" "first scrape"
ok "first scrape: $NIFS interfaces ($((NIFS * 20)) series), $NDEV devices ($((NDEV * 9)) series), no drops"

end=$(( $(date +%s) + RUN_S ))
scrapes=0
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 5
  kill -0 "$AGENT_PID" 2>/dev/null || fail "agent exited: $(tail -20 "$WORK/agent.log")"
  curl -fsS "$url/metrics" > "$WORK/m.txt" || fail "scrape $scrapes"
  check "$WORK/m.txt" "scrape $scrapes"
  scrapes=$((scrapes + 1))
done
ok "$scrapes more scrapes over ${RUN_S}s: no drops, every series"

kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
rc=$?
PIDS=""
[ "$rc" = 0 ] || fail "agent exited $rc on SIGTERM: $(tail -20 "$WORK/agent.log")"
ok "clean exit"
