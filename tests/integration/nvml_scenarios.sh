#!/bin/bash
# Agent-level tests of the nvml collector: `accelmon --once` against the fake
# libnvidia-ml.so.1 for each scenario under tests/fixtures/nvml (exact lines
# of the exposition, then `promtool check metrics`), a GPU lost and back and
# a hanging NVML call with the agent serving /metrics.
# Env (set by make check): ACCELMON, ABS_SRCDIR, ABS_BUILDDIR. Exit 0 pass,
# 1 fail, 77 skip (promtool or curl missing).
set -u

: "${ACCELMON:?ACCELMON not set}" "${ABS_SRCDIR:?}" "${ABS_BUILDDIR:?}"
FIX=$ABS_SRCDIR/tests/fixtures/nvml
LIB=$ABS_BUILDDIR/tests/fake_nvml/libnvidia-ml.so.1
OLDLIB=$ABS_BUILDDIR/tests/fake_nvml/old/libnvidia-ml.so.1
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
CURL=$(command -v curl || true)
if [ -z "$PROMTOOL" ] || [ -z "$CURL" ]; then
	echo "SKIP: promtool or curl not found"
	exit 77
fi
for f in "$LIB" "$OLDLIB"; do
	[ -f "$f" ] || { echo "FAIL: $f not built"; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nvml_it.XXXXXX")
AGENT_PID=
cleanup() {
	if [ -n "$AGENT_PID" ]; then
		kill -KILL "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# config LIBRARY -> $TMP/cfg.yaml; NETDEV=true also runs netdev.
config() {
	{
		echo "collectors:"
		echo "  netdev: {enabled: ${NETDEV:-false}, interval: 200ms}"
		echo "  nvml: {library: $1, interval: 200ms, timeout: 500ms${RESCAN:+, rescan: $RESCAN}}"
	} > "$TMP/cfg.yaml"
}

# once NAME SCENARIO LIBRARY [accelmon args...]: run, keep $TMP/NAME.prom
once() {
	name=$1 scen=$2 lib=$3; shift 3
	config "$lib"
	if ! FAKE_NVML_SCENARIO=$FIX/$scen "$ACCELMON" --once \
		--config "$TMP/cfg.yaml" "$@" > "$TMP/$name.prom" 2> "$TMP/$name.err"; then
		fail "$name: accelmon --once exited $? ($(cat "$TMP/$name.err"))"
		return 1
	fi
	if "$PROMTOOL" check metrics < "$TMP/$name.prom" > "$TMP/$name.lint" 2>&1; then
		ok "$name: promtool check metrics"
	else
		fail "$name: promtool check metrics: $(cat "$TMP/$name.lint")"
	fi
}

# has NAME LINE: the exposition holds exactly this line
has() {
	if grep -Fxq -- "$2" "$TMP/$1.prom"; then
		ok "$1: $2"
	else
		fail "$1: missing line: $2"
		grep -F -- "${2%%\{*}" "$TMP/$1.prom" | grep -v '^#' | head -3 | sed 's/^/    have: /'
	fi
}

# lacks NAME PATTERN: no sample line matches (fixed string)
lacks() {
	if grep -v '^#' "$TMP/$1.prom" | grep -Fq -- "$2"; then
		fail "$1: unexpected: $(grep -v '^#' "$TMP/$1.prom" | grep -F -- "$2" | head -1)"
	else
		ok "$1: no $2"
	fi
}

H0='device="nvidia0",uuid="GPU-5b1c7e6a-0000-4000-8000-000000000000"'
H1='device="nvidia1",uuid="GPU-5b1c7e6a-0000-4000-8000-000000000001"'

# ---- H100 x2: GPM, NVLink, energy counter, an Xid ----
if once h100 h100.ini "$LIB"; then
	has h100 "accel_info{$H0,vendor=\"nvidia\",model=\"NVIDIA H100 80GB HBM3\",serial=\"1650123456789\",pci_bus_id=\"00000000:18:00.0\",numa_node=\"0\",driver_version=\"550.54.15\",firmware_version=\"\"} 1"
	has h100 "accel_up{$H0} 1"
	has h100 "accel_up{$H1} 1"
	has h100 "accel_utilization_ratio{$H0} 0.37"
	has h100 "accel_memory_utilization_ratio{$H0} 0.12"
	has h100 "accel_memory_used_bytes{$H0} 42949672960"
	has h100 "accel_memory_total_bytes{$H0} 85520809984"
	has h100 "accel_power_watts{$H0} 312.5"
	has h100 "accel_power_limit_watts{$H0} 700"
	has h100 "accel_energy_joules_total{$H0} 1015"
	has h100 "accel_temperature_celsius{$H0,sensor=\"gpu\"} 45"
	has h100 "accel_temperature_celsius{$H0,sensor=\"memory\"} 52"
	has h100 "accel_clock_hertz{$H0,clock=\"sm\"} 1980000000"
	has h100 "accel_ecc_errors_total{$H0,type=\"corrected\",block=\"\"} 3"
	has h100 "accel_compute_processes{$H0} 2"
	has h100 "accel_throttled_seconds_total{$H0,reason=\"gpu_idle\"} 0"
	has h100 "fabric_nvlink_transmit_bytes_total{$H0,link=\"0\"} 1331200"
	has h100 "fabric_nvlink_transmit_bytes_total{$H0,link=\"17\"} 23961600"
	has h100 "fabric_nvlink_transmit_bytes_total{$H0,link=\"all\"} 227635200"
	has h100 "fabric_nvlink_receive_bytes_total{$H1,link=\"all\"} 87552000"
	lacks h100 "link=\"18\""
	has h100 "accel_error_events_total{$H0,code=\"79\"} 1"
	has h100 "accel_sm_active_ratio{$H0} 0.455"
	has h100 "accel_sm_occupancy_ratio{$H0} 0.3"
	has h100 "accel_tensor_active_ratio{$H0} 0.2"
	has h100 "accel_memory_bandwidth_utilization_ratio{$H1} 0.8"
	lacks h100 "accel_tensor_active_ratio{$H1}"
	has h100 'accelmon_collector_up{collector="nvml"} 1'
	has h100 'accelmon_collector_read_errors_total{collector="nvml"} 0'
	# integrals grow by ratio x seconds (0.2 s polls): present, positive
	if grep -q "^accel_busy_seconds_total{$H0} 0\.0[5-9]" "$TMP/h100.prom" &&
	   grep -q "^accel_pcie_transmit_bytes_total{$H0} [1-9]" "$TMP/h100.prom"; then
		ok "h100: busy seconds and PCIe bytes integrate"
	else
		fail "h100: integrals: $(grep -E '^accel_(busy|pcie_transmit)' "$TMP/h100.prom" | head -2)"
	fi
fi

# ---- A100: no GPM, 12 links ----
A0='device="nvidia0",uuid="GPU-a100a100-0000-4000-8000-000000000000"'
if once a100 a100.ini "$LIB"; then
	has a100 "accel_energy_joules_total{$A0} 5007.5"
	has a100 "accel_ecc_errors_total{$A0,type=\"uncorrected\",block=\"\"} 1"
	has a100 "fabric_nvlink_transmit_bytes_total{$A0,link=\"11\"} 3686400"
	lacks a100 "link=\"12\""
	lacks a100 "accel_sm_active_ratio"
	lacks a100 "accel_tensor_active"
	lacks a100 'sensor="memory"'
fi

# ---- T4: no energy counter (power integrated), no NVLink, ECC unsupported ----
T0='device="nvidia0",uuid="GPU-7e47e470-0000-4000-8000-000000000000"'
if once t4 t4.ini "$LIB"; then
	has t4 "accel_power_watts{$T0} 70"
	has t4 "accel_info{$T0,vendor=\"nvidia\",model=\"Tesla T4\",serial=\"\",pci_bus_id=\"00000000:3B:00.0\",numa_node=\"0\",driver_version=\"470.239.06\",firmware_version=\"\"} 1"
	lacks t4 "accel_ecc_errors_total"
	lacks t4 "fabric_nvlink"
	lacks t4 "accel_throttled_seconds_total"
	lacks t4 "accel_error_events_total"
	# 70 W over the interval between the two polls (0.2 s, longer on a
	# loaded machine), and 25% busy over the same interval: the energy is
	# 280 x the busy seconds whatever the interval's length.
	if awk -v k1="accel_energy_joules_total{$T0}" -v k2="accel_busy_seconds_total{$T0}" '
		$1 == k1 { e = $2 } $1 == k2 { b = $2 }
		END { d = e - 280 * b; exit !(e >= 13 && b > 0 && d < 0.001 && d > -0.001) }' "$TMP/t4.prom"; then
		ok "t4: energy integrated from power"
	else
		fail "t4: energy: $(grep '^accel_\(energy\|busy\)' "$TMP/t4.prom")"
	fi
fi

# ---- old driver: unversioned symbols only, NUMA node from sysfs ----
P0='device="nvidia0",uuid="GPU-p100p100-0000-4000-8000-000000000000"'
if once old old.ini "$OLDLIB" --sysfs "$FIX/sysfs"; then
	has old "accel_info{$P0,vendor=\"nvidia\",model=\"Tesla P100-PCIE-16GB\",serial=\"0323017012345\",pci_bus_id=\"00000000:04:00.0\",numa_node=\"1\",driver_version=\"418.226.00\",firmware_version=\"\"} 1"
	has old "accel_utilization_ratio{$P0} 0.6"
	has old "accel_memory_used_bytes{$P0} 4294967296"
	has old "accel_compute_processes{$P0} 1"
	lacks old "accel_sm_active_ratio"
	lacks old "fabric_nvlink"
fi

# ---- MIG: one device per compute instance; GPU instance figures once ----
if once mig mig.ini "$LIB"; then
	G1='device="nvidia0-gi1-ci0",uuid="MIG-11111111-0000-4000-8000-000000000000"'
	C1='device="nvidia0-gi1-ci1",uuid="MIG-33333333-0000-4000-8000-000000000000"'
	has mig "accel_up{$G1} 1"
	has mig "accel_up{$C1} 1"
	has mig "accel_memory_used_bytes{$G1} 10737418240"
	has mig "accel_sm_active_ratio{$G1} 0.5"
	has mig "accel_info{$G1,vendor=\"nvidia\",model=\"NVIDIA H100 80GB HBM3 MIG 3g.40gb\",serial=\"1650123456789\",pci_bus_id=\"00000000:18:00.0\",numa_node=\"0\",driver_version=\"550.54.15\",firmware_version=\"\"} 1"
	has mig "accel_compute_processes{$C1} 2"
	lacks mig "accel_memory_used_bytes{$C1}"
	lacks mig "accel_sm_active_ratio{$C1}"
	lacks mig "accel_utilization_ratio{$G1}"
	lacks mig 'device="nvidia0-gi1",'
	has mig 'accelmon_collector_read_errors_total{collector="nvml"} 0'
fi

# ---- busy time from the driver's samples (nvmlDeviceGetSamples) ----
# samples.ini: the --once polls are at 2 s and 3 s of the fake's driver time,
# a second with 0.1 s busy (sample 13 reads 60% for 166667 us: 0.1000002 s).
S0='device="nvidia0",uuid="GPU-5a3c1e5a-0000-4000-8000-000000000000"'
if once samples samples.ini "$LIB"; then
	has samples "accel_busy_seconds_total{$S0} 0.1000002"
	has samples "accel_utilization_ratio{$S0} 0.1000002"
	has samples "accel_memory_utilization_ratio{$S0} 0.12"
	has samples 'accelmon_collector_read_errors_total{collector="nvml"} 0'
fi

# ---- 535.43: 32-byte _v3 process entries, 60 processes on one GPU ----
if once procs535 procs535.ini "$LIB"; then
	has procs535 'accel_compute_processes{device="nvidia0",uuid="GPU-53543020-0000-4000-8000-000000000000"} 60'
	has procs535 'accel_compute_processes{device="nvidia1",uuid="GPU-53543020-0000-4000-8000-000000000001"} 49'
fi

# ---- GPU lost at the 2nd poll: it reports down, the other keeps going ----
L0='device="nvidia0",uuid="GPU-a100a100-0000-4000-8000-000000000000"'
L1='device="nvidia1",uuid="GPU-a100a100-0000-4000-8000-000000000001"'
if once lost lost.ini "$LIB"; then
	has lost "accel_up{$L0} 1"
	has lost "accel_up{$L1} 0"
	has lost "accel_utilization_ratio{$L0} 0.8"
	has lost 'accelmon_collector_up{collector="nvml"} 1'
fi

# ---- no library / no driver: one line, nothing else ----
config /nonexistent/libnvidia-ml.so.1
"$ACCELMON" --once --config "$TMP/cfg.yaml" > "$TMP/nolib.prom" 2> "$TMP/nolib.err"
rc=$?
n=$(grep -c 'nvml' "$TMP/nolib.err")
if [ "$rc" -eq 0 ] && [ "$n" -eq 1 ] &&
   grep -q 'nvml: .*/nonexistent/libnvidia-ml.so.1 not found: ' "$TMP/nolib.err" &&
   ! grep -q '^accel_' "$TMP/nolib.prom"; then
	ok "no library: exit 0, one line: $(grep nvml "$TMP/nolib.err")"
else
	fail "no library: rc $rc, $n nvml lines: $(cat "$TMP/nolib.err")"
fi

# ---- server mode helpers ----
# A loopback port nobody listens on.
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$EPHEMERAL_LOW" -gt 11000 ] 2>/dev/null || EPHEMERAL_LOW=32768
free_port() {
	for _ in $(seq 1 50); do
		# Below the kernel's ephemeral range: a port there may be the local end
		# of some client's connection, which no probe sees but bind() refuses.
		p=$(( 10000 + (RANDOM * 32768 + RANDOM) % (${EPHEMERAL_LOW:-32768} - 10000) ))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}
# start SCENARIO: agent in the background on a free $PORT
start() {
	PORT=$(free_port)
	config "$LIB"
	FAKE_NVML_SCENARIO=$FIX/$1 "$ACCELMON" --config "$TMP/cfg.yaml" \
		--listen "127.0.0.1:$PORT" \
		--sysfs "$ABS_SRCDIR/tests/fixtures/netdev/sys" \
		> "$TMP/agent.out" 2> "$TMP/agent.err" &
	AGENT_PID=$!
	i=0
	while [ $i -lt 50 ]; do
		"$CURL" -fsS -m 2 "http://127.0.0.1:$PORT/metrics" > /dev/null 2>&1 && return 0
		sleep 0.1; i=$((i + 1))
	done
	fail "agent did not answer on port $PORT: $(cat "$TMP/agent.err")"
	return 1
}
stop() {
	kill -TERM "$AGENT_PID" 2>/dev/null
	i=0
	while kill -0 "$AGENT_PID" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	if kill -0 "$AGENT_PID" 2>/dev/null; then
		fail "agent did not exit within 5 s of SIGTERM"
		kill -KILL "$AGENT_PID" 2>/dev/null
	fi
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
}
scrape() { "$CURL" -fsS -m 2 "http://127.0.0.1:$PORT/metrics"; }

# ---- GPU lost and back, watched through scrapes ----
if start lost_late.ini; then
	seen=""
	i=0
	while [ $i -lt 80 ]; do
		v=$(scrape | grep -F "accel_up{$L1}" | awk '{print $2}')
		case "$seen" in *"$v") ;; *) seen="$seen$v" ;; esac
		case "$seen" in *101) break ;; esac
		sleep 0.1; i=$((i + 1))
	done
	case "$seen" in
	*101) ok "lost GPU: accel_up went 1 -> 0 -> 1 (sequence $seen)" ;;
	*) fail "lost GPU: accel_up sequence $seen, want 1, 0, 1" ;;
	esac
	stop
fi

# ---- devices that come and go, found by rescans (every poll here) ----
# rescan.ini: nvidia1 appears at tick 4, is gone at ticks 8-9 and back at 10;
# GPU instance 2 of nvidia0 is destroyed at tick 6; a compute instance
# appears in GPU instance 1 at tick 5. A tick is one 200 ms poll.
R1='device="nvidia1",uuid="GPU-5b1c7e6a-0000-4000-8000-000000000001"'
RG2='device="nvidia0-gi2-ci0",uuid="MIG-22222222-0000-4000-8000-000000000000"'
RC1='device="nvidia0-gi1-ci1",uuid="MIG-33333333-0000-4000-8000-000000000000"'
if RESCAN=200ms start rescan.ini; then
	seen="" gseen=""
	i=0
	while [ $i -lt 100 ]; do
		body=$(scrape)
		v=$(echo "$body" | grep -F "accel_up{$R1}" | awk '{print $2}')
		g=$(echo "$body" | grep -F "accel_up{$RG2}" | awk '{print $2}')
		case "$seen" in *"${v:--}") ;; *) seen="$seen${v:--}" ;; esac
		case "$gseen" in *"${g:--}") ;; *) gseen="$gseen${g:--}" ;; esac
		case "$seen" in *-101) break ;; esac
		sleep 0.1; i=$((i + 1))
	done
	echo "$body" > "$TMP/rescan.prom"
	case "$seen" in
	-101) ok "rescan: new GPU found without a restart, lost, back (accel_up sequence $seen)" ;;
	*) fail "rescan: nvidia1 accel_up sequence $seen, want absent, 1, 0, 1" ;;
	esac
	case "$gseen" in
	10 | -10) ok "rescan: destroyed MIG instance reads accel_up 0, never absent ($gseen)" ;;
	*) fail "rescan: gi2 accel_up sequence $gseen, want 1, 0" ;;
	esac
	has rescan "accel_up{$RC1} 1"
	has rescan "accel_compute_processes{$RC1} 3"
	grep -q "nvml: nvidia1: new GPU" "$TMP/agent.err" &&
		ok "rescan: logged: $(grep -m1 'nvml: nvidia1: new GPU' "$TMP/agent.err")" ||
		fail "rescan: no 'new GPU' line: $(cat "$TMP/agent.err")"
	"$PROMTOOL" check metrics < "$TMP/rescan.prom" > /dev/null 2>&1 &&
		ok "rescan: promtool check metrics" ||
		fail "rescan: promtool: $("$PROMTOOL" check metrics < "$TMP/rescan.prom" 2>&1)"
	stop
fi

# ---- an NVML call that never returns: scrapes go on, the watchdog says 0 ----
if NETDEV=true start hang.ini; then
	i=0 down=0 answered=0
	while [ $i -lt 50 ]; do
		if body=$(scrape); then
			answered=$((answered + 1))
			if echo "$body" | grep -Fxq 'accelmon_collector_up{collector="nvml"} 0'; then
				down=1
				echo "$body" > "$TMP/hang.prom"
				break
			fi
		else
			fail "hang: scrape $i did not answer within 2 s"
		fi
		sleep 0.1; i=$((i + 1))
	done
	if [ $down -eq 1 ]; then
		ok "hang: accelmon_collector_up{collector=\"nvml\"} 0 after $answered answered scrapes"
		has hang 'accelmon_collector_up{collector="netdev"} 1'
		# the snapshot can say 0 a moment before the watchdog's line is out
		for _ in $(seq 1 20); do
			grep -q "nvml: poll overran" "$TMP/agent.err" && break
			sleep 0.1
		done
		grep -q "nvml: poll overran" "$TMP/agent.err" &&
			ok "hang: watchdog logged: $(grep -m1 'nvml: poll overran' "$TMP/agent.err")" ||
			fail "hang: no watchdog line in the log: $(cat "$TMP/agent.err")"
		# the line names the NVML call the poll is stuck in (hang.ini)
		grep -Fq "nvml: poll overran its 0.5s deadline, stuck in nvmlDeviceGetPowerUsage; reported down until it returns" "$TMP/agent.err" &&
			ok "hang: the watchdog line names nvmlDeviceGetPowerUsage" ||
			fail "hang: watchdog line does not name the stuck call: $(grep 'overran' "$TMP/agent.err")"
		# scrapes keep answering while the collector thread is stuck
		t0=$(date +%s)
		for k in 1 2 3 4 5; do
			scrape > "$TMP/hang2.prom" || fail "hang: scrape after watchdog failed"
			sleep 0.2
		done
		# the hung collector's series go stale; netdev's stay
		if grep -q '^accel_up' "$TMP/hang2.prom"; then
			fail "hang: nvml series did not go stale"
		else
			ok "hang: nvml series stale"
		fi
		grep -q '^fabric_netdev_up{device="eth0"} 1$' "$TMP/hang2.prom" &&
			ok "hang: netdev still reporting" ||
			fail "hang: netdev series missing"
		if grep -Fxq 'accelmon_collector_up{collector="nvml"} 0' "$TMP/hang2.prom" &&
		   [ $(( $(date +%s) - t0 )) -lt 10 ]; then
			ok "hang: 5 more scrapes answered promptly, nvml still down"
		else
			fail "hang: later scrape: $(grep collector_up "$TMP/hang2.prom")"
		fi
		"$PROMTOOL" check metrics < "$TMP/hang2.prom" > /dev/null 2>&1 ||
			fail "hang: promtool: $("$PROMTOOL" check metrics < "$TMP/hang2.prom" 2>&1)"
	else
		fail "hang: nvml never reported down ($answered scrapes answered)"
	fi
	stop
fi

# init stuck in a driver call: logged as an init overrun, naming the call
if start hang_init.ini; then
	line="nvml: init overran its 0.5s deadline, stuck in nvmlDeviceGetName; reported down until it returns"
	for _ in $(seq 1 30); do
		grep -Fq "$line" "$TMP/agent.err" && break
		sleep 0.1
	done
	grep -Fq "$line" "$TMP/agent.err" &&
		ok "hang_init: watchdog logged: $line" ||
		fail "hang_init: no init overrun line naming the call: $(cat "$TMP/agent.err")"
	scrape > "$TMP/hang_init.prom" || fail "hang_init: scrape failed while init hangs"
	stop
fi
# the same under --once, whose wait logs its own line
if once hang_init_once hang_init.ini "$LIB"; then
	grep -Fq "nvml: init overran its 0.5s deadline, stuck in nvmlDeviceGetName; reported down" "$TMP/hang_init_once.err" &&
		ok "hang_init: --once names the call init is stuck in" ||
		fail "hang_init: --once line: $(grep overran "$TMP/hang_init_once.err")"
fi

if [ $fails -ne 0 ]; then
	echo "nvml_scenarios: $fails failure(s)"
	exit 1
fi
echo "nvml_scenarios: all passed"
exit 0
