#!/bin/bash
# Agent-level tests of the ascend collector: `accelmon --once` against the
# fake libdcmi.so for each scenario under tests/fixtures/ascend (exact lines
# of the exposition, then `promtool check metrics`), a chip lost and back,
# and a DCMI call that hangs while the agent keeps serving /metrics.
# Env (set by make check): ACCELMON, ABS_SRCDIR, ABS_BUILDDIR. Exit 0 pass,
# 1 fail, 77 skip (promtool or curl missing).
. "$(dirname "$0")/lib.sh"
: "${ABS_BUILDDIR:?}"
need curl
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
[ -n "$PROMTOOL" ] || skip "promtool is not installed"
FIX=$FIXTURES/ascend
LIB=$ABS_BUILDDIR/tests/fake_dcmi/libdcmi.so
OLDLIB=$ABS_BUILDDIR/tests/fake_dcmi/old/libdcmi.so
for f in "$LIB" "$OLDLIB"; do
	[ -f "$f" ] || fail "$f not built"
done

# config LIBRARY -> $WORK/cfg.yaml (netdev on, as a neighbour that keeps going)
config() {
	{
		echo "collectors:"
		echo "  netdev: {enabled: ${NETDEV:-false}, interval: 200ms}"
		echo "  ascend: {library: $1, interval: 200ms, timeout: 500ms${RESCAN:+, rescan: $RESCAN}}"
	} > "$WORK/cfg.yaml"
}

# once NAME SCENARIO LIBRARY: accelmon --once, exposition in $WORK/NAME.prom
once() {
	local name=$1 scen=$2 lib=$3
	config "$lib"
	FAKE_DCMI_SCENARIO=$FIX/$scen "$ACCELMON" --once --config "$WORK/cfg.yaml" \
		--sysfs "$FIX/sysfs" ${PROCFS:+--procfs "$PROCFS"} > "$WORK/$name.prom" 2> "$WORK/$name.err" ||
		fail "$name: accelmon --once exited $? ($(cat "$WORK/$name.err"))"
	"$PROMTOOL" check metrics < "$WORK/$name.prom" > "$WORK/$name.lint" 2>&1 ||
		fail "$name: promtool check metrics: $(cat "$WORK/$name.lint")"
	ok "$name: promtool check metrics"
}

# has NAME LINE: the exposition holds exactly this line
has() {
	grep -Fxq -- "$2" "$WORK/$1.prom" ||
		fail "$1: missing line: $2; have: $(grep -F -- "${2%%\{*}" "$WORK/$1.prom" | grep -v '^#' | head -3)"
	ok "$1: $2"
}

# lacks NAME TEXT: no sample line holds it
lacks() {
	! grep -v '^#' "$WORK/$1.prom" | grep -Fq -- "$2" ||
		fail "$1: unexpected: $(grep -v '^#' "$WORK/$1.prom" | grep -F -- "$2" | head -1)"
	ok "$1: no $2"
}

# ---- 8 chips of a 910B-class node ----
once node node910b.ini "$LIB"
N0='device="ascend0",uuid="5A5A0000-00001111-00002222-00003333-00000000"'
N3='device="ascend3",uuid="5A5A0003-00001111-00002222-00003333-00000003"'
N5='device="ascend5",uuid="5A5A0005-00001111-00002222-00003333-00000005"'
N7='device="ascend7",uuid="5A5A0007-00001111-00002222-00003333-00000007"'
has node "accel_info{$N0,vendor=\"huawei\",model=\"910B3\",serial=\"102244618000\",pci_bus_id=\"0000:c1:00.0\",numa_node=\"0\",driver_version=\"\",firmware_version=\"\"} 1"
has node "accel_up{$N7} 1"
has node "accel_utilization_ratio{$N0} 0.3"
has node "accel_utilization_ratio{$N7} 0.37"
has node "accel_engine_utilization_ratio{$N3,engine=\"aicube\"} 0.28"
has node "accel_engine_utilization_ratio{$N3,engine=\"npu\"} 0.43"
has node "accel_memory_bandwidth_utilization_ratio{$N5} 0.25"
has node "accel_memory_total_bytes{$N0} 68719476736"
has node "accel_memory_used_bytes{$N3} 3460300800"
has node "accel_temperature_celsius{$N3,sensor=\"hbm\"} 43"
has node "accel_temperature_celsius{$N3,sensor=\"die\"} 53"
has node "accel_power_watts{$N3} 104.5"
has node "accel_clock_hertz{$N0,clock=\"aicore\"} 1800000000"
has node "accel_ecc_errors_total{$N5,type=\"corrected\",block=\"hbm\"} 8"
has node "ascend_hbm_isolated_pages{$N5,type=\"single_bit\"} 2"
has node "accel_compute_processes{$N5} 2"
has node "ascend_health{$N3} 2"
has node "ascend_error_code{$N3,code=\"0x81078603\"} 1"
has node "ascend_error_codes{$N0} 0"
has node "ascend_network_health{$N3} 3"
has node 'accelmon_collector_read_errors_total{collector="ascend"} 0'
[ "$(grep -c '^accel_up{device="ascend' "$WORK/node.prom")" -eq 8 ] || fail "node: not 8 chips"
# the core's integrals: 0.37 x one 0.2 s interval, 100 W likewise
grep -Eq "^accel_busy_seconds_total\{$N7\} 0\.0[6-9]" "$WORK/node.prom" &&
	grep -Eq "^accel_energy_joules_total\{$N0\} (1[5-9]|2[0-9])(\.[0-9]*)?$" "$WORK/node.prom" ||
	fail "node: integrals: $(grep -E '^accel_(busy|energy)' "$WORK/node.prom" | head -2)"
ok "node: busy seconds and energy integrate"

# ---- a 310P-class card: DDR, no HBM, two chips on one card ----
once p310 card310p.ini "$LIB"
P0='device="ascend0",uuid="033VNY10M8000123-chip0"'
P1='device="ascend1",uuid="033VNY10M8000123-chip1"'
has p310 "accel_info{$P1,vendor=\"huawei\",model=\"310P3\",serial=\"033VNY10M8000123\",pci_bus_id=\"0000:3c:00.0\",numa_node=\"\",driver_version=\"\",firmware_version=\"\"} 1"
has p310 "accel_memory_total_bytes{$P0} 46430945280"
has p310 "accel_memory_used_bytes{$P0} 4294967296"
has p310 "accel_memory_bandwidth_utilization_ratio{$P0} 0.09"
has p310 "accel_power_watts{$P0} 25.6"
lacks p310 'sensor="hbm"'
lacks p310 "accel_ecc_errors_total"
lacks p310 "ascend_network_health"
lacks p310 'engine="npu"'

# ---- attribution: one chip shared by a Slurm job and a Kubernetes pod ----
# (collectors/attribution.md) DCMI gives process memory but no per-process
# utilization: busy seconds and energy go to the two jobs in equal shares,
# and the shares add up to what the chip's counters grew by.
PROCFS=$FIXTURES/procfs/node once att ../procfs/ascend_shared.ini "$LIB"
A0='device="ascend0",uuid="102244618000"'
POD=0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b
has att "accel_job_info{$A0,job=\"4242\",kind=\"slurm\",user=\"1000\",step=\"0\",container=\"\",namespace=\"\",pod=\"\"} 1"
has att "accel_job_memory_used_bytes{$A0,job=\"4242\",kind=\"slurm\"} 8589934592"
has att "accel_job_memory_used_bytes{$A0,job=\"$POD\",kind=\"kubernetes\"} 6442450944"
lacks att 'accel_job_info{device="ascend1"'
[ "$(grep -c "^accel_job_info{$A0," "$WORK/att.prom")" -eq 2 ] || fail "att: not 2 jobs on ascend0"
# jobsum FAMILY: the jobs' values on ascend0, summed; devval FAMILY: the chip's
jobsum() { grep -F "$1{$A0," "$WORK/att.prom" | awk '{s += $NF} END {printf "%.9f", s}'; }
devval() { grep -F "$1{$A0}" "$WORK/att.prom" | awk '{printf "%.9f", $NF}'; }
slurm() { grep -F "$1{$A0,job=\"4242\"" "$WORK/att.prom" | awk '{print $NF}'; }
for fam in busy_seconds energy_joules; do
	# to a unit of the split (ns, mJ): an odd one goes to one of the two
	tol=1e-8
	[ "$fam" = energy_joules ] && tol=1e-3
	dev=$(devval "accel_${fam}_total") jobs=$(jobsum "accel_job_${fam}_total") s=$(slurm "accel_job_${fam}_total")
	awk -v a="$dev" -v b="$jobs" -v s="$s" -v t="$tol" \
		'BEGIN { d = a - b; h = s - b / 2; exit !(a > 0 && d < t && -d < t && h < t && -h < t) }' ||
		fail "att: $fam: jobs $jobs, chip $dev, slurm 4242 $s (want the chip's, half each)"
	ok "att: job $fam $jobs = the chip's $dev, slurm 4242 has half"
done

# ---- an old driver: dcmi_get_card_num_list and few symbols ----
once old old.ini "$OLDLIB"
O0='device="ascend0",uuid="card1-chip0"'
has old "accel_info{$O0,vendor=\"huawei\",model=\"910ProB\",serial=\"\",pci_bus_id=\"\",numa_node=\"\",driver_version=\"\",firmware_version=\"\"} 1"
has old "accel_utilization_ratio{$O0} 0.55"
has old "accel_power_watts{$O0} 210"
has old "ascend_health{device=\"ascend1\",uuid=\"card4-chip0\"} 1"
lacks old "accel_memory_total_bytes"
lacks old "accel_ecc_errors_total"

# ---- every optional call answers -8255: accel_up and accel_info only ----
once unsup unsupported.ini "$LIB"
has unsup 'accel_up{device="ascend1",uuid="card1-chip0"} 1'
[ "$(grep -v '^#' "$WORK/unsup.prom" | grep -Ec '^(accel|ascend)_')" -eq 4 ] ||
	fail "unsup: other series: $(grep -v '^#' "$WORK/unsup.prom" | grep -E '^(accel|ascend)_')"
ok "unsup: 4 series (accel_up, accel_info x 2 chips)"

# ---- driver strings at their limits: cut, escaped, valid UTF-8 ----
once odd odd.ini "$LIB"
has odd 'accel_info{device="ascend0",uuid="SN\"1\\2�3",vendor="huawei",model="Ascend910B3-with-a-name-longer-t",serial="SN\"1\\2�3",pci_bus_id="",numa_node="",driver_version="",firmware_version=""} 1'

# ---- lost at the 2nd poll: unlisted, and answering -8007 ----
once lost lost.ini "$LIB"
has lost 'accel_up{device="ascend0",uuid="00000011-00000022-00000033-00000044-00000055"} 1'
has lost 'accel_up{device="ascend1",uuid="00000011-00000022-00000033-00000044-00000066"} 0'
has lost 'accel_up{device="ascend2",uuid="00000011-00000022-00000033-00000044-00000077"} 0'
has lost 'accelmon_collector_up{collector="ascend"} 1'

# ---- listed, but every call fails from the 2nd poll: not answering ----
once allfail allfail.ini "$LIB"
has allfail 'accel_up{device="ascend0",uuid="00000011-00000022-00000033-00000044-00000055"} 0'
grep -Eq '^accelmon_collector_read_errors_total\{collector="ascend"\} [1-9]' "$WORK/allfail.prom" ||
	fail "allfail: no read errors: $(grep read_errors "$WORK/allfail.prom")"
ok "allfail: read errors counted"

# ---- no library: one line, nothing else ----
config /nonexistent/libdcmi.so
"$ACCELMON" --once --config "$WORK/cfg.yaml" > "$WORK/nolib.prom" 2> "$WORK/nolib.err" ||
	fail "no library: exit $?"
[ "$(grep -c 'ascend' "$WORK/nolib.err")" -eq 1 ] &&
	grep -q 'ascend: .*/nonexistent/libdcmi.so not found: ' "$WORK/nolib.err" &&
	! grep -q '^accel_' "$WORK/nolib.prom" ||
	fail "no library: $(cat "$WORK/nolib.err")"
ok "no library: one line: $(grep ascend "$WORK/nolib.err")"

# ---- server mode ----
start() {
	PORT=$(free_port) || fail "no free port"
	config "$LIB"
	FAKE_DCMI_SCENARIO=$FIX/$1 start_agent --config "$WORK/cfg.yaml" \
		--listen "127.0.0.1:$PORT" --sysfs "$ABS_SRCDIR/tests/fixtures/netdev/sys"
	wait_http "http://127.0.0.1:$PORT/metrics" 10 ||
		fail "agent did not answer on port $PORT: $(cat "$WORK/agent.log")"
}
stop() {
	kill -TERM "$AGENT_PID" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$AGENT_PID" 2>/dev/null && { kill -KILL "$AGENT_PID"; fail "agent did not exit within 5 s of SIGTERM"; }
	wait "$AGENT_PID" 2>/dev/null
}
scrape() { curl -fsS -m 2 "http://127.0.0.1:$PORT/metrics"; }

# a chip lost and back, watched through scrapes (found again by a rescan
# or the next poll: same series, same uuid)
L1='accel_up{device="ascend1",uuid="00000011-00000022-00000033-00000044-00000066"}'
RESCAN=200ms start lost_late.ini
seen=""
for _ in $(seq 1 100); do
	v=$(scrape | grep -F "$L1" | awk '{print $2}')
	case "$seen" in *"${v:--}") ;; *) seen="$seen${v:--}" ;; esac
	case "$seen" in *101) break ;; esac
	sleep 0.1
done
case "$seen" in
*101) ok "lost chip: accel_up went 1 -> 0 -> 1 (sequence $seen)" ;;
*) fail "lost chip: accel_up sequence $seen, want 1, 0, 1" ;;
esac
grep -q "ascend: ascend1: available again" "$WORK/agent.log" ||
	fail "lost chip: no 'available again' line: $(cat "$WORK/agent.log")"
scrape > "$WORK/back.prom"
"$PROMTOOL" check metrics < "$WORK/back.prom" > /dev/null 2>&1 || fail "lost chip: promtool"
stop

# a DCMI call that never returns: scrapes go on, the watchdog says 0 and
# names the call
NETDEV=true start hang.ini
down=0
for _ in $(seq 1 60); do
	body=$(scrape) || fail "hang: a scrape did not answer within 2 s"
	if echo "$body" | grep -Fxq 'accelmon_collector_up{collector="ascend"} 0'; then
		down=1
		break
	fi
	sleep 0.1
done
[ $down -eq 1 ] || fail "hang: ascend never reported down"
ok "hang: accelmon_collector_up{collector=\"ascend\"} 0"
line="ascend: poll overran its 0.5s deadline, stuck in dcmi_get_device_power_info; reported down until it returns"
for _ in $(seq 1 30); do
	grep -Fq "$line" "$WORK/agent.log" && break
	sleep 0.1
done
grep -Fq "$line" "$WORK/agent.log" || fail "hang: no watchdog line naming the call: $(grep overran "$WORK/agent.log")"
ok "hang: watchdog logged: $line"
for _ in 1 2 3; do
	scrape > "$WORK/hang.prom" || fail "hang: a later scrape failed"
	sleep 0.2
done
grep -q '^fabric_netdev_up{device="eth0"} 1$' "$WORK/hang.prom" || fail "hang: netdev stopped"
grep -Fxq 'accelmon_collector_up{collector="ascend"} 0' "$WORK/hang.prom" || fail "hang: ascend back up?"
"$PROMTOOL" check metrics < "$WORK/hang.prom" > /dev/null 2>&1 || fail "hang: promtool"
ok "hang: scrapes keep answering, netdev keeps reporting"
stop

# init stuck in a DCMI call (the chip's identity): logged naming the call
start hang_init.ini
line="ascend: init overran its 0.5s deadline, stuck in dcmi_get_device_chip_info; reported down until it returns"
for _ in $(seq 1 30); do
	grep -Fq "$line" "$WORK/agent.log" && break
	sleep 0.1
done
grep -Fq "$line" "$WORK/agent.log" || fail "hang_init: no init overrun line naming the call: $(cat "$WORK/agent.log")"
ok "hang_init: watchdog logged: $line"
scrape > /dev/null || fail "hang_init: scrape failed while init hangs"
stop
echo "ascend_scenarios: all passed"
