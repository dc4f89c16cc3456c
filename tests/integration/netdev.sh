#!/bin/bash
# The netdev collector in the real agent on sysfs trees this test writes:
# (1) `--once` on shapes of real machines (bonding_masters, symlink loops,
# a dangling link, NUL-padded files, speed -1, garbage speed and mtu): exact
# values, exact log lines, promtool clean; (2) a class folder that is a loop
# or a plain file is an init error, a missing one "nothing found"; (3) the
# daemon with `rescan: 300ms`: an interface that appears is exported within
# one rescan interval, one that vanishes leaves the exposition.
. "$(dirname "$0")/lib.sh"
need curl
need promtool

NET=$WORK/sys/class/net
mkdir -p "$WORK/sys/class"
cp -R "$FIXTURES/netdev/sys/class/net" "$NET"
chmod -R u+w "$WORK/sys"

# config NETDEV_OPTIONS: only netdev, into $WORK/a.yaml
config() {
  {
    echo "collectors:"
    for c in sim amdgpu infiniband nvml; do echo "  $c: {enabled: false}"; done
    echo "  netdev: {interval: 100ms${1:+, $1}}"
  } > "$WORK/a.yaml"
}
# expect LINE FILE: FILE has LINE exactly
expect() { grep -qxF -- "$1" "$2" || fail "missing in ${2##*/}: $1"; }
# lint FILE: promtool check metrics finds nothing
lint() {
  promtool check metrics < "$1" > "$WORK/lint" 2>&1 || fail "promtool: $(cat "$WORK/lint")"
  [ -s "$WORK/lint" ] && fail "promtool findings: $(cat "$WORK/lint")"
  return 0
}

# ---- (1) shapes, --once ----
echo bond0 > "$NET/bonding_masters"
ln -s loop "$NET/loop"
ln -s pong "$NET/ping"
ln -s ping "$NET/pong"
ln -s ../../devices/virtual/net/gone0 "$NET/gone0"
mkdir -p "$NET/nul0/device" "$NET/nul0/statistics" "$NET/unk0/device"
{ printf '9000\n'; head -c 4091 /dev/zero; } > "$NET/nul0/mtu" # up to a page
printf '123456789\n\0\0\0' > "$NET/nul0/statistics/rx_bytes"
printf 'up\n\0\0' > "$NET/nul0/operstate"
printf '100000\0\0\0' > "$NET/nul0/speed"
printf '0c:42:a1:00:00:09\n\0\0\0\0' > "$NET/nul0/address"
printf 'full\0\0' > "$NET/nul0/duplex"
echo 1500 > "$NET/unk0/mtu"
echo up > "$NET/unk0/operstate"
echo -1 > "$NET/unk0/speed"
echo 9k > "$NET/veth1/mtu"
config "physical_only: false"
"$ACCELMON" --once --sysfs "$WORK/sys" --config "$WORK/a.yaml" > "$WORK/once.prom" 2> "$WORK/once.log" ||
  fail "accelmon --once exited $?: $(cat "$WORK/once.log")"
lint "$WORK/once.prom"
expect 'fabric_netdev_mtu_bytes{device="nul0"} 9000' "$WORK/once.prom"
expect 'fabric_netdev_receive_bytes_total{device="nul0"} 123456789' "$WORK/once.prom"
expect 'fabric_netdev_up{device="nul0"} 1' "$WORK/once.prom"
expect 'fabric_netdev_speed_bytes{device="nul0"} 12500000000' "$WORK/once.prom"
expect 'fabric_netdev_info{device="nul0",address="0c:42:a1:00:00:09",duplex="full"} 1' "$WORK/once.prom"
expect 'fabric_netdev_up{device="unk0"} 1' "$WORK/once.prom"
expect 'fabric_netdev_mtu_bytes{device="unk0"} 1500' "$WORK/once.prom"
grep -q 'fabric_netdev_speed_bytes{device="unk0"}' "$WORK/once.prom" && fail "speed -1 exported"
grep -q 'fabric_netdev_speed_bytes{device="bad0"}' "$WORK/once.prom" && fail "speed \"fast\" exported"
grep -q 'fabric_netdev_mtu_bytes{device="veth1"}' "$WORK/once.prom" && fail "mtu \"9k\" exported"
expect 'fabric_netdev_speed_bytes{device="veth1"} 1250000000' "$WORK/once.prom"
expect 'accelmon_collector_read_errors_total{collector="netdev"} 6' "$WORK/once.prom"
for d in bonding_masters loop ping pong gone0; do
  grep -q "device=\"$d\"" "$WORK/once.prom" && fail "$d taken for an interface"
  grep -q "$d" "$WORK/once.log" && fail "a log line about $d: $(grep "$d" "$WORK/once.log")"
done
expect "accelmon warn: netdev: $NET/bad0/speed: not a speed in Mb/s: \"fast\" (retry in 10s, backing off up to 600s)" "$WORK/once.log"
expect "accelmon warn: netdev: $NET/veth1/mtu: not an unsigned number: \"9k\" (retry in 10s, backing off up to 600s)" "$WORK/once.log"
expect "accelmon info: netdev: 6 interfaces under $NET (every 0.1s)" "$WORK/once.log"
[ "$(grep -c 'accelmon warn: netdev:' "$WORK/once.log")" = 6 ] ||
  fail "want 6 warnings (bad0's 5, veth1's mtu): $(cat "$WORK/once.log")"
ok "shapes: bonding_masters, loops and a dangling link are no interfaces; NUL padding parses; speed -1 absent; garbage speed/mtu logged and counted; promtool clean"

# ---- (2) broken class folders ----
mkdir -p "$WORK/broken/class"
config ""
ln -s net "$WORK/broken/class/net"
"$ACCELMON" --once --sysfs "$WORK/broken" --config "$WORK/a.yaml" > "$WORK/b.prom" 2> "$WORK/b.log"
expect "accelmon error: netdev: init failed: Too many levels of symbolic links: cannot read $WORK/broken/class/net" "$WORK/b.log"
expect 'accelmon_collector_up{collector="netdev"} 0' "$WORK/b.prom"
lint "$WORK/b.prom"
rm "$WORK/broken/class/net"
: > "$WORK/broken/class/net"
"$ACCELMON" --once --sysfs "$WORK/broken" --config "$WORK/a.yaml" > "$WORK/b.prom" 2> "$WORK/b.log"
expect "accelmon error: netdev: init failed: Not a directory: cannot read $WORK/broken/class/net" "$WORK/b.log"
rm "$WORK/broken/class/net"
"$ACCELMON" --once --sysfs "$WORK/broken" --config "$WORK/a.yaml" > "$WORK/b.prom" 2> "$WORK/b.log"
expect "accelmon info: netdev: nothing found: no $WORK/broken/class/net" "$WORK/b.log"
ok "a class folder that is a loop or a plain file: init failed (collector down); none: nothing found"

# ---- (3) rescan in the running agent ----
port=$(free_port)
url="http://127.0.0.1:$port/metrics"
config "rescan: 300ms"
start_agent --config "$WORK/a.yaml" --sysfs "$WORK/sys" --listen "127.0.0.1:$port"
wait_http "$url" || fail "agent did not answer: $(cat "$WORK/agent.log")"
sleep 0.3
curl -fsS "$url" > "$WORK/m0" || fail "scrape"
grep -q 'fabric_netdev_mtu_bytes{device="ib0"} 4092' "$WORK/m0" || fail "ib0 not there at start"
mkdir -p "$NET/eth9/device" "$NET/eth9/statistics"
echo 4242 > "$NET/eth9/statistics/rx_bytes"
echo 1500 > "$NET/eth9/mtu"
echo up > "$NET/eth9/operstate"
rm -rf "$NET/ib0"
t0=$(date +%s%N)
seen=""
while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000 ]; do
  curl -fsS "$url" > "$WORK/m1" || fail "scrape"
  # a snapshot may be published while a poll's samples are half ingested:
  # wait for the poll's first and last eth9 series both
  if grep -qxF 'fabric_netdev_receive_bytes_total{device="eth9"} 4242' "$WORK/m1" &&
     grep -qxF 'fabric_netdev_up{device="eth9"} 1' "$WORK/m1"; then
    seen=$(( ($(date +%s%N) - t0) / 1000000 ))
    break
  fi
  sleep 0.05
done
[ -n "$seen" ] || fail "eth9 not exported after 5 s: $(grep netdev "$WORK/agent.log")"
# one rescan interval (300 ms), the poll after it (100 ms) and a publication,
# with room for a loaded machine
[ "$seen" -le 1500 ] || fail "eth9 took ${seen} ms (rescan 300 ms)"
grep -q 'device="ib0"' "$WORK/m1" && fail "ib0 still exported after it vanished"
expect 'fabric_netdev_up{device="eth9"} 1' "$WORK/m1"
expect 'accelmon_collector_read_errors_total{collector="netdev"} 5' "$WORK/m1"
lint "$WORK/m1"
ok "rescan: eth9 exported ${seen} ms after it appeared (rescan 300ms); ib0 retired; promtool clean"
