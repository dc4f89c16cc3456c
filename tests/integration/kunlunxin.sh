#!/bin/bash
# The kunlunxin plugin end to end: `make install DESTDIR=...` puts it in the
# plugin folder; the same source is built again out of tree with only the
# installed headers and `pkg-config accelmon`, loaded with `plugins:` into
# the installed agent over the fake libxpuml.so (tests/fake_xpuml), and
# scraped: exact values and promtool for each scenario of
# tests/fixtures/kunlunxin, calls a device lacks asked once, a device lost
# and back, one hot-added, one answering nothing, a dual-XPU board, a hung
# XPUML call while the agent serves.
. "$(dirname "$0")/lib.sh"
need pkg-config
need curl
need promtool
: "${ABS_BUILDDIR:?}"
: "${CC:=cc}"
FIX="$FIXTURES/kunlunxin"
FAKE="$ABS_BUILDDIR/tests/fake_xpuml/libxpuml.so"
INTREE="$ABS_BUILDDIR/collectors/plugins/kunlunxin/kunlunxin.so"
SRC="$ABS_SRCDIR/collectors/plugins/kunlunxin/kunlunxin.c"
[ -f "$FAKE" ] || fail "$FAKE not built"
[ -f "$INTREE" ] || fail "$INTREE not built"

# ---- install, and find the plugin in the installed plugin folder ----
install_staged "$WORK/root"
PCFLAGS=$(pkg-config --cflags --libs accelmon) || fail "pkg-config accelmon"
plugindir=$(pkg-config --variable=plugindir accelmon)
# The .pc's variable is the prefix path; sysroot only rewrites -I flags.
case "$plugindir" in "$ROOT"/*) ;; *) plugindir="$ROOT$plugindir" ;; esac
[ -f "$plugindir/kunlunxin.so" ] || fail "kunlunxin.so not installed in $plugindir: $(ls "$plugindir" 2>&1)"
ok "installed: ${plugindir#$ROOT}/kunlunxin.so"

# ---- out of tree: the same source, the installed headers only ----
# -MD lists every header the compiler opened: none may come from the source
# tree's agent/ (the SDK is what was installed).
$CC -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
  -Wformat=2 -Werror -shared -fPIC -MD -MF "$WORK/oot.d" -o "$WORK/kunlunxin.so" \
  "$SRC" $PCFLAGS 2>"$WORK/cc.err" || fail "out-of-tree build: $(cat "$WORK/cc.err")"
grep -q "$ROOT/.*/accelmon/collector.h" "$WORK/oot.d" || fail "the build did not use the installed collector.h: $(cat "$WORK/oot.d")"
! grep -q "$ABS_SRCDIR/agent" "$WORK/oot.d" || fail "the out-of-tree build read the source tree's SDK: $(grep -o "$ABS_SRCDIR/agent[^ ]*" "$WORK/oot.d" | head -3)"
ok "built out of tree: $CC ... $PCFLAGS"

# ---- --once per scenario: exact lines, promtool ----
conf() { # conf PLUGIN [extra kunlunxin options]
  {
    echo 'plugin_dir: ""'
    echo "plugins: [$1]"
    echo "collectors:"
    echo "  netdev: {enabled: ${NETDEV:-false}, interval: 200ms}"
    echo "  kunlunxin: {library: $FAKE, interval: 200ms, timeout: 500ms${2:+, $2}}"
  } >"$WORK/c.yaml"
}
once() { # once NAME SCENARIO [PLUGIN]: $WORK/NAME.prom
  local name=$1 scen=$2 so=${3:-$WORK/kunlunxin.so}
  conf "$so"
  FAKE_XPUML_SCENARIO="$FIX/$scen" "$AGENT" --once --config "$WORK/c.yaml" \
    --sysfs "$FIX/sysfs" >"$WORK/$name.prom" 2>"$WORK/$name.err" ||
    fail "$name: accelmon --once exited $?: $(cat "$WORK/$name.err")"
  promtool check metrics <"$WORK/$name.prom" >"$WORK/$name.lint" 2>&1 ||
    fail "$name: promtool check metrics: $(cat "$WORK/$name.lint")"
}
has() { # has NAME LINE...
  local name=$1; shift
  for want in "$@"; do
    grep -qxF -- "$want" "$WORK/$name.prom" ||
      fail "$name: no line '$want'; have: $(grep -F -- "${want%%\{*}" "$WORK/$name.prom" | grep -v '^#' | head -4)"
  done
}
lacks() { # lacks NAME FIXED_STRING...
  local name=$1; shift
  for bad in "$@"; do
    ! grep -v '^#' "$WORK/$name.prom" | grep -qF -- "$bad" ||
      fail "$name: unexpected: $(grep -v '^#' "$WORK/$name.prom" | grep -F -- "$bad" | head -1)"
  done
}

K0='device="kunlunxin0",uuid="02K00Y6217V00009"'
K1='device="kunlunxin1",uuid="02K00Y6217V00010"'
K2='device="kunlunxin2",uuid="02K00Y6217V00011"'
K3='device="kunlunxin3",uuid="02K00Y6217V00012"'
once node node.ini
has node \
  "accel_info{$K0,vendor=\"kunlunxin\",model=\"R200\",serial=\"02K00Y6217V00009\",pci_bus_id=\"00000000:3B:00.0\",numa_node=\"0\",driver_version=\"4.0.25\",firmware_version=\"\"} 1" \
  "accel_info{$K2,vendor=\"kunlunxin\",model=\"R300\",serial=\"02K00Y6217V00011\",pci_bus_id=\"00000000:B1:00.0\",numa_node=\"1\",driver_version=\"4.0.25\",firmware_version=\"\"} 1" \
  "accel_info{$K1,vendor=\"kunlunxin\",model=\"R200\",serial=\"02K00Y6217V00010\",pci_bus_id=\"00000000:5E:00.0\",numa_node=\"\",driver_version=\"4.0.25\",firmware_version=\"\"} 1" \
  "accel_up{$K0} 1" "accel_up{$K1} 1" "accel_up{$K2} 1" "accel_up{$K3} 1" \
  "accel_utilization_ratio{$K0} 0.37" "accel_utilization_ratio{$K1} 1" \
  "accel_utilization_ratio{$K2} 0" \
  "accel_memory_bandwidth_utilization_ratio{$K0} 0.12" \
  "accel_memory_bandwidth_utilization_ratio{$K1} 0.64" \
  "accel_memory_used_bytes{$K0} 4294967296" "accel_memory_total_bytes{$K0} 17179869184" \
  "accel_memory_used_bytes{$K1} 16106127360" "accel_memory_total_bytes{$K2} 34359738368" \
  "accel_power_watts{$K0} 88" "accel_power_watts{$K1} 150" "accel_power_watts{$K2} 38.5" \
  "accel_temperature_celsius{$K0,sensor=\"xpu\"} 46" \
  "accel_temperature_celsius{$K1,sensor=\"xpu\"} 61" \
  "accel_clock_hertz{$K0,clock=\"xpu\"} 1300000000" \
  "accel_clock_hertz{$K2,clock=\"xpu\"} 800000000" \
  "kunlunxin_device_state{$K0,state=\"running\"} 1" \
  "kunlunxin_device_state{$K0,state=\"in_reset\"} 0" \
  "kunlunxin_device_state{$K2,state=\"unused\"} 1" \
  "kunlunxin_device_state{$K3,state=\"in_reset\"} 1" \
  "kunlunxin_device_state{$K3,state=\"running\"} 0" \
  'accelmon_collector_up{collector="kunlunxin"} 1' \
  'accelmon_collector_read_errors_total{collector="kunlunxin"} 0'
grep -q "kunlunxin: 4 Kunlunxin XPU(s) (4 answering), driver 4.0.25, via $FAKE" "$WORK/node.err" ||
  fail "node: no found line: $(grep kunlunxin "$WORK/node.err")"
# The integrals follow the one rule over the same interval: busy seconds =
# ratio x dt and joules = watts x dt, so joules / watts = busy / ratio
# (kunlunxin1: a constant 100 % and 150 W), and dt is about one 0.2 s poll.
read -r busy joules < <(awk -v k="{$K1}" '
  $1 == "accel_busy_seconds_total" k { b = $2 } $1 == "accel_energy_joules_total" k { j = $2 }
  END { print b, j }' "$WORK/node.prom")
awk -v b="$busy" -v j="$joules" 'BEGIN { d = j / 150 - b; if (d < 0) d = -d
  exit !(b > 0.1 && b < 1 && d < 1e-9 * b) }' ||
  fail "node: busy $busy s and energy $joules J of kunlunxin1 disagree"
ok "node: 4 XPUs, exact values, promtool; busy ${busy}s = ${joules} J / 150 W"

# The in-tree build of the same file, loaded into the build tree's agent:
# the same exposition apart from the integrals and the agent's own figures.
once intree node.ini "$INTREE"
strip_var() { grep -v -e '^#' -e '_total{' -e '^process_' -e '^accelmon_' "$1"; }
diff <(strip_var "$WORK/node.prom") <(strip_var "$WORK/intree.prom") >"$WORK/diff" ||
  fail "in-tree and out-of-tree builds differ: $(head -5 "$WORK/diff")"
ok "in-tree and out-of-tree builds export the same $(strip_var "$WORK/node.prom" | grep -c '^accel_\|^kunlunxin_') series"

# Calls the device does not support: asked once (2 polls here), then not.
U0='device="kunlunxin0",uuid="00000000:17:00.0"'
FAKE_XPUML_TRACE="$WORK/trace" once unsupported unsupported.ini
has unsupported "accel_up{$U0} 1" "accel_utilization_ratio{$U0} 0.55" \
  "accel_memory_used_bytes{$U0} 1073741824" \
  "accel_info{$U0,vendor=\"kunlunxin\",model=\"\",serial=\"\",pci_bus_id=\"00000000:17:00.0\",numa_node=\"\",driver_version=\"3.1.12\",firmware_version=\"\"} 1" \
  'accelmon_collector_read_errors_total{collector="kunlunxin"} 0'
lacks unsupported accel_power_watts accel_energy_joules_total accel_temperature_celsius \
  accel_clock_hertz kunlunxin_device_state
for sym in xpumlDeviceGetPowerUsage xpumlDeviceGetTemperature xpumlDeviceGetClockInfo \
           xpumlDeviceGetState; do
  n=$(grep -c "^$sym 0\$" "$WORK/trace")
  [ "$n" = 1 ] || fail "unsupported: $sym asked $n times in 2 polls, want once"
done
n=$(grep -c '^xpumlDeviceGetUtilizationRates 0$' "$WORK/trace")
[ "$n" = 2 ] || fail "unsupported: utilization asked $n times in 2 polls, want 2"
ok "unsupported: uuid from the PCI address, absent metrics asked once"

# A device lost at the 2nd poll: accel_up 0, the other goes on.
L0='device="kunlunxin0",uuid="02K00Y6217V00020"'
L1='device="kunlunxin1",uuid="02K00Y6217V00021"'
once lost lost.ini
has lost "accel_up{$L0} 1" "accel_up{$L1} 0" "accel_utilization_ratio{$L0} 0.8" \
  'accelmon_collector_up{collector="kunlunxin"} 1' \
  'accelmon_collector_read_errors_total{collector="kunlunxin"} 0'
grep -q 'kunlunxin: kunlunxin1: utilization: XPU_IS_LOST; reporting it down' "$WORK/lost.err" ||
  fail "lost: no warning naming the device: $(grep kunlunxin1 "$WORK/lost.err")"
ok "lost: kunlunxin1 down (XPU_IS_LOST), kunlunxin0 up"

# Every call failing (UNKNOWN) from the 2nd poll: accel_up 0, read errors.
once unknown unknown.ini
has unknown "accel_up{$L0} 1" "accel_up{$L1} 0" \
  'accelmon_collector_read_errors_total{collector="kunlunxin"} 5'
ok "unknown: kunlunxin1 answering nothing reads accel_up 0, 5 read errors"

# A dual-XPU board (one serial, two XPUs) and a count of 300.
D0='device="kunlunxin0",uuid="02K00Y6217V00070-00000000:3B:00.0"'
D1='device="kunlunxin1",uuid="02K00Y6217V00070-00000000:3C:00.0"'
D2='device="kunlunxin2",uuid="02K00Y6217V00071"'
once dual dual.ini
has dual "accel_up{$D0} 1" "accel_up{$D1} 1" "accel_up{$D2} 1" \
  "accel_info{$D1,vendor=\"kunlunxin\",model=\"R200-8F\",serial=\"02K00Y6217V00070\",pci_bus_id=\"00000000:3C:00.0\",numa_node=\"\",driver_version=\"4.0.25\",firmware_version=\"\"} 1" \
  'accel_up{device="kunlunxin255",uuid="kunlunxin255"} 0'
lacks dual 'uuid="02K00Y6217V00070"' 'device="kunlunxin256"'
grep -q 'kunlunxin: xpumlDeviceGetCount answered 300; taking the first 256 XPUs' "$WORK/dual.err" ||
  fail "dual: no count warning: $(grep -m3 kunlunxin "$WORK/dual.err")"
ok "dual: one serial, two uuids; a count of 300 taken as 256"

# No library: one line, exit 0, nothing exported.
conf "$WORK/kunlunxin.so"
sed -i "s|library: $FAKE|library: /nonexistent/libxpuml.so|" "$WORK/c.yaml"
"$AGENT" --once --config "$WORK/c.yaml" --sysfs "$FIX/sysfs" >"$WORK/nolib.prom" 2>"$WORK/nolib.err" ||
  fail "no library: exit $?: $(cat "$WORK/nolib.err")"
[ "$(grep -c 'kunlunxin: .*/nonexistent/libxpuml.so not found: ' "$WORK/nolib.err")" = 1 ] &&
  ! grep -q '^accel_' "$WORK/nolib.prom" ||
  fail "no library: $(grep kunlunxin "$WORK/nolib.err")"
ok "no library: $(grep 'kunlunxin: ' "$WORK/nolib.err" | grep -v 'plugin loaded')"

# ---- served: lost and back, hot-added, found by rescans ----
serve() { # serve SCENARIO [options]: agent on $PORT
  PORT=$(free_port)
  conf "$WORK/kunlunxin.so" "${2:-}"
  FAKE_XPUML_SCENARIO="$FIX/$1" "$AGENT" --config "$WORK/c.yaml" \
    --listen "127.0.0.1:$PORT" --sysfs "$ABS_SRCDIR/tests/fixtures/netdev/sys" \
    >"$WORK/agent.out" 2>"$WORK/agent.log" &
  AGENT_PID=$!; PIDS="$PIDS $AGENT_PID"
  wait_http "http://127.0.0.1:$PORT/metrics" || fail "agent did not come up: $(cat "$WORK/agent.log")"
}
scrape() { curl -fsS -m 2 "http://127.0.0.1:$PORT/metrics"; }
stop() { kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; }

B1='device="kunlunxin1",uuid="02K00Y6217V00041"'
B2='device="kunlunxin2",uuid="02K00Y6217V00042"'
serve lost_back.ini "rescan: 200ms"
seen="" seen2=""
for _ in $(seq 100); do
  scrape >"$WORK/m" || fail "lost_back: scrape"
  v=$(awk -v k="accel_up{$B1}" '$1 == k { print $2 }' "$WORK/m")
  v2=$(awk -v k="accel_up{$B2}" '$1 == k { print $2 }' "$WORK/m")
  case "$seen" in *"${v:--}") ;; *) seen="$seen${v:--}" ;; esac
  case "$seen2" in *"${v2:--}") ;; *) seen2="$seen2${v2:--}" ;; esac
  case "$seen" in *101) case "$seen2" in *1) break ;; esac ;; esac
  sleep 0.1
done
case "$seen" in 101 | -101) ;; *) fail "lost_back: kunlunxin1 accel_up went $seen, want 1, 0, 1" ;; esac
case "$seen2" in -1 | 1) ;; *) fail "lost_back: kunlunxin2 accel_up went $seen2, want absent, then 1" ;; esac
promtool check metrics <"$WORK/m" >"$WORK/lint" 2>&1 || fail "lost_back: promtool: $(cat "$WORK/lint")"
cp "$WORK/m" "$WORK/back.prom"
has back "accel_utilization_ratio{$B1} 0.1" "accel_power_watts{$B2} 45"
grep -q 'kunlunxin: kunlunxin1: available again' "$WORK/agent.log" &&
  grep -q 'kunlunxin: kunlunxin2: new XPU' "$WORK/agent.log" ||
  fail "lost_back: log: $(grep 'kunlunxin' "$WORK/agent.log" | tail -5)"
stop
ok "lost_back: kunlunxin1 accel_up $seen (back at a rescan), kunlunxin2 hot-added ($seen2)"

# ---- a hung XPUML call: scrapes go on, the watchdog names the call ----
NETDEV=true serve hang.ini
down=0
for _ in $(seq 50); do
  scrape >"$WORK/m" || fail "hang: a scrape did not answer within 2 s"
  grep -qxF 'accelmon_collector_up{collector="kunlunxin"} 0' "$WORK/m" && { down=1; break; }
  sleep 0.1
done
[ "$down" = 1 ] || fail "hang: kunlunxin never reported down"
line='kunlunxin: poll overran its 0.5s deadline, stuck in xpumlDeviceGetPowerUsage; reported down until it returns'
for _ in $(seq 30); do grep -qF "$line" "$WORK/agent.log" && break; sleep 0.1; done
grep -qF "$line" "$WORK/agent.log" || fail "hang: no watchdog line naming the call: $(grep overran "$WORK/agent.log")"
for _ in 1 2 3; do
  scrape >"$WORK/m" || fail "hang: scrape while stuck"
  sleep 0.2
done
grep -qxF 'accelmon_collector_up{collector="kunlunxin"} 0' "$WORK/m" &&
  grep -qx 'fabric_netdev_up{device="eth0"} 1' "$WORK/m" ||
  fail "hang: later scrape: $(grep -e collector_up -e netdev_up "$WORK/m")"
promtool check metrics <"$WORK/m" >"$WORK/lint" 2>&1 || fail "hang: promtool: $(cat "$WORK/lint")"
ok "hang: $line; netdev still served"
# SIGTERM with the collector thread still stuck: the agent exits anyway.
kill "$AGENT_PID"
for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$AGENT_PID" 2>/dev/null || fail "hang: agent still running 5 s after SIGTERM"
wait "$AGENT_PID" 2>/dev/null
ok "hang: agent exited on SIGTERM with the call still stuck"
