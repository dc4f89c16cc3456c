#!/bin/bash
# InfiniBand sysfs shapes of real machines the committed fixtures miss
# (issue 10), each a tree this test makes from a committed one, read by the
# real agent: exact values, the log lines, and `promtool check metrics`
# clean. Then live rediscovery: an HCA that appears and a port that vanishes
# while the agent runs are seen within one rescan interval.
. "$(dirname "$0")/lib.sh"
need curl
need promtool

MKTREE="$FIXTURES/infiniband/mktree.sh"
IBC=class/infiniband

# once TREE NAME: accelmon --once with only the InfiniBand collector on
# TREE, exposition in $WORK/NAME.prom and the log in $WORK/NAME.log;
# promtool must find nothing.
once() {
	printf 'collectors:\n  netdev: {enabled: false}\n  sim: {enabled: false}\n  amdgpu: {enabled: false}\n  nvml: {enabled: false}\n  infiniband: {interval: 200ms}\n' > "$WORK/once.yaml"
	"$ACCELMON" --once --sysfs "$1" --config "$WORK/once.yaml" > "$WORK/$2.prom" 2> "$WORK/$2.log" ||
		fail "$2: accelmon --once exited $?: $(cat "$WORK/$2.log")"
	promtool check metrics < "$WORK/$2.prom" > "$WORK/$2.lint" 2>&1 ||
		fail "$2: promtool: $(cat "$WORK/$2.lint")"
	[ -s "$WORK/$2.lint" ] && fail "$2: promtool findings: $(cat "$WORK/$2.lint")"
	return 0
}
# has NAME LINE: the exposition holds exactly this sample line.
has() { grep -qxF "$2" "$WORK/$1.prom" || fail "$1: no line '$2' in: $(grep -F "${2%%\{*}" "$WORK/$1.prom")"; }
hasnt() { ! grep -qF "$2" "$WORK/$1.prom" || fail "$1: unexpected '$2'"; }
# logs NAME COUNT TEXT: TEXT is in exactly COUNT log lines.
logs() {
	local n
	n=$(grep -cF "$3" "$WORK/$1.log")
	[ "$n" = "$2" ] || fail "$1: $n log lines with '$3' (want $2): $(cat "$WORK/$1.log")"
}

# 1. noietf PortCounters (hfi1, mlx4): 64-bit data without unicast files.
t=$WORK/noietf
sh "$MKTREE" "$FIXTURES/infiniband/saturated" "$t"
c=$t/$IBC/mlx5_0/ports/1/counters
echo 272500000000 > "$c/port_xmit_data"
echo 4294967296 > "$c/port_rcv_data"
echo 9000000000 > "$c/port_xmit_packets"
echo 12 > "$c/port_rcv_packets"
once "$t" noietf
has noietf 'fabric_port_transmit_bytes_total{device="mlx5_0",port="1"} 1090000000000'
has noietf 'fabric_port_receive_bytes_total{device="mlx5_0",port="1"} 17179869184'
has noietf 'fabric_port_transmit_packets_total{device="mlx5_0",port="1"} 9000000000'
has noietf 'fabric_port_receive_packets_total{device="mlx5_0",port="1"} 12'
hasnt noietf 'counter="port_xmit_data"'
logs noietf 1 'mlx5_0/ports/1/counters: a data or packet counter reads above 2^32-1 without unicast files: 64-bit (noietf PortCounters)'
logs noietf 0 'wider than the counter'
ok "noietf layout: bytes above 2^32 exported as node_exporter does (1.09e12)"

# 2. classic 32-bit PortCounters: the data counter sticks at 2^32-1.
t=$WORK/classic
sh "$MKTREE" "$FIXTURES/infiniband/saturated" "$t"
once "$t" classic
has classic 'fabric_port_transmit_bytes_total{device="mlx5_0",port="1"} 17179869180'
has classic 'fabric_port_stat_saturated{device="mlx5_0",port="1",counter="port_xmit_data"} 1'
has classic 'fabric_port_stat_saturated{device="mlx5_0",port="1",counter="port_rcv_data"} 0'
logs classic 0 'noietf'
ok "classic layout: stuck at 2^32-1, flagged saturated"

# 3. iWARP without PMA, 4. bnxt_re without counters/, 5. the mlx5 counters
# of issue 10 and counters/port_rcv_discards, on one tree.
t=$WORK/shapes
sh "$MKTREE" "$FIXTURES/infiniband/roce" "$t"
for f in "$t/$IBC/mlx5_0/ports/1/counters"/*; do echo 'N/A (no PMA)' > "$f"; done
rm -rf "$t/$IBC/rocep23s0f1/ports/1/counters"
hw=$t/$IBC/rocep23s0f1/ports/1/hw_counters
v=4101
for f in roce_adp_retrans roce_adp_retrans_to roce_slow_restart roce_slow_restart_cnps \
	roce_slow_restart_trans rx_read_requests rx_write_requests rx_atomic_requests; do
	echo $v > "$hw/$f"
	v=$((v + 1))
done
echo 4109 > "$hw/rx_dct_connect"
once "$t" shapes
logs shapes 1 'mlx5_0/ports/1/counters: "N/A (no PMA)": the port has no performance counters; reading its state and rate only'
logs shapes 0 'warn'
has shapes 'accelmon_collector_read_errors_total{collector="infiniband"} 0'
has shapes 'fabric_port_up{device="mlx5_0",port="1"} 1'
has shapes 'fabric_port_link_speed_bytes_per_second{device="mlx5_0",port="1"} 12500000000'
hasnt shapes 'fabric_port_transmit_bytes_total{device="mlx5_0"'
has shapes 'fabric_port_up{device="rocep23s0f1",port="1"} 1'
hasnt shapes 'fabric_port_transmit_bytes_total{device="rocep23s0f1"'
has shapes 'fabric_roce_adaptive_retransmits_total{device="rocep23s0f1",port="1",type="roce_adp_retrans"} 4101'
has shapes 'fabric_roce_adaptive_retransmits_total{device="rocep23s0f1",port="1",type="roce_adp_retrans_to"} 4102'
has shapes 'fabric_roce_slow_restart_total{device="rocep23s0f1",port="1",type="roce_slow_restart"} 4103'
has shapes 'fabric_roce_slow_restart_total{device="rocep23s0f1",port="1",type="roce_slow_restart_cnps"} 4104'
has shapes 'fabric_roce_slow_restart_total{device="rocep23s0f1",port="1",type="roce_slow_restart_trans"} 4105'
has shapes 'fabric_roce_received_requests_total{device="rocep23s0f1",port="1",type="read"} 4106'
has shapes 'fabric_roce_received_requests_total{device="rocep23s0f1",port="1",type="write"} 4107'
has shapes 'fabric_roce_received_requests_total{device="rocep23s0f1",port="1",type="atomic"} 4108'
has shapes 'fabric_roce_dct_connects_total{device="rocep23s0f1",port="1"} 4109'
ok "no PMA stated once, no counters/ folder, mlx5 counters exported"

t=$WORK/discards
sh "$MKTREE" "$FIXTURES/infiniband/ndr8" "$t"
echo 5000000123 > "$t/$IBC/mlx5_0/ports/1/counters/port_rcv_discards"
once "$t" discards
has discards 'fabric_port_errors_total{device="mlx5_0",port="1",type="port_rcv_discards"} 5000000123'
hasnt discards 'counter="port_rcv_discards"'
ok "counters/port_rcv_discards"

# 6. class/infiniband a plain file or a symlink loop: an error, not
# "nothing found"; absent: nothing found.
for shape in file loop absent; do
	t=$WORK/class_$shape
	mkdir -p "$t/class"
	case $shape in
	file) echo x > "$t/$IBC" ;;
	loop) ln -s infiniband "$t/$IBC" ;;
	esac
	once "$t" "class_$shape"
done
logs class_file 1 "infiniband: init failed: Not a directory: $WORK/class_file/$IBC: Not a directory"
logs class_loop 1 "infiniband: init failed: Too many levels of symbolic links"
logs class_absent 1 "infiniband: nothing found: no $WORK/class_absent/$IBC"
has class_file 'accelmon_collector_up{collector="infiniband"} 0'
ok "class folder that is a file or a loop: logged as an error"

# 7. Rescan: an HCA appears and a port vanishes while the agent runs.
t=$WORK/live
sh "$MKTREE" "$FIXTURES/infiniband/down" "$t"
port=$(free_port)
url="http://127.0.0.1:$port"
printf 'collectors:\n  netdev: {enabled: false}\n  sim: {enabled: false}\n  amdgpu: {enabled: false}\n  nvml: {enabled: false}\n  infiniband: {interval: 200ms, rescan: 1s}\n' > "$WORK/live.yaml"
start_agent --config "$WORK/live.yaml" --sysfs "$t" --listen "127.0.0.1:$port"
wait_http "$url/-/healthy" || fail "agent did not answer: $(cat "$WORK/agent.log")"
sleep 0.5
curl -fsS "$url/metrics" > "$WORK/live0.prom" || fail "GET /metrics"
grep -qF 'fabric_port_up{device="ibp2s0f1",port="2"} 0' "$WORK/live0.prom" || fail "port 2 not there at start"
(cd "$t/$IBC" && cp -a ibp2s0f0 ibp2s0f2 && rm -rf ibp2s0f1/ports/2)
t0=$(date +%s%N)
seen=
for _ in $(seq 30); do
	sleep 0.1
	curl -fsS "$url/metrics" > "$WORK/live1.prom" || fail "GET /metrics"
	if grep -qF 'fabric_port_up{device="ibp2s0f2",port="1"} 0' "$WORK/live1.prom" &&
		! grep -qF 'device="ibp2s0f1",port="2"' "$WORK/live1.prom"; then
		seen=$(( ($(date +%s%N) - t0) / 1000000 ))
		break
	fi
done
[ -n "$seen" ] || fail "new HCA / vanished port not seen within 3 s: $(grep -F fabric_port_up "$WORK/live1.prom"); log: $(cat "$WORK/agent.log")"
[ "$seen" -le 1500 ] || fail "seen after ${seen} ms, more than one rescan interval (1 s) and a poll"
grep -qF 'fabric_device_info{device="ibp2s0f2",' "$WORK/live1.prom" || fail "no device info for the new HCA"
grep -qF 'fabric_port_up{device="ibp2s0f1",port="1"} 0' "$WORK/live1.prom" || fail "the port that stayed is gone"
grep -qF 'ibp2s0f1 port 2 is gone' "$WORK/agent.log" || fail "no log line for the vanished port: $(cat "$WORK/agent.log")"
grep -qF 'rescan: 3 RDMA device(s), 3 port(s) (1 new)' "$WORK/agent.log" || fail "no rescan log line: $(cat "$WORK/agent.log")"
promtool check metrics < "$WORK/live1.prom" > "$WORK/live.lint" 2>&1 || fail "promtool: $(cat "$WORK/live.lint")"
[ -s "$WORK/live.lint" ] && fail "promtool findings: $(cat "$WORK/live.lint")"
ok "rescan: new HCA and vanished port reflected after ${seen} ms (rescan: 1s)"
