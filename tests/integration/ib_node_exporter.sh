#!/bin/sh
# Reference test for the InfiniBand collector: Debian's
# prometheus-node-exporter and `accelmon --once` read the same sysfs fixture
# trees, and every node_infiniband series with a counterpart in accelmon must
# have the same value (bytes, packets, errors, rate, state, info). Deliberate
# differences are named below and checked for what accelmon does instead.
# `promtool check metrics` must accept accelmon's output. Skips (77) only
# when node_exporter is absent. Env: ACCELMON, ABS_SRCDIR (set by make check).
set -u
SRC=${ABS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
ACCELMON=${ACCELMON:-$SRC/accelmon}
NE=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
FIX=$SRC/tests/fixtures/infiniband
TREES="ndr8 roce oldkernel down saturated"

if [ ! -x "$NE" ]; then
	echo "SKIP: prometheus-node-exporter not found at $NE"
	exit 77
fi
[ -x "$ACCELMON" ] || { echo "FAIL: accelmon binary not found: $ACCELMON"; exit 1; }

TMP=$(mktemp -d)
NEPID=
cleanup() {
	if [ -n "$NEPID" ]; then
		kill "$NEPID" 2>/dev/null
		wait "$NEPID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# Only the infiniband collector (the others are switched off by name).
cat > "$TMP/accelmon.yaml" <<'YAML'
collectors:
  infiniband: {interval: 1s}
  netdev: {enabled: false}
YAML

# Start node_exporter on a free port (another process may hold the first
# one tried; node_exporter then exits and the next port is tried).
start_ne() {
	tree=$1
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$(( 10000 + ($$ * 13 + try * 977) % 22000 )) # below the ephemeral ports
		"$NE" --collector.disable-defaults --collector.infiniband \
			--path.sysfs="$tree" \
			--web.listen-address=127.0.0.1:$port > "$TMP/ne.log" 2>&1 &
		NEPID=$!
		i=0
		while [ $i -lt 50 ]; do
			if curl -sf "http://127.0.0.1:$port/metrics" > /dev/null 2>&1; then
				NEPORT=$port
				return 0
			fi
			kill -0 "$NEPID" 2>/dev/null || break
			sleep 0.1
			i=$((i + 1))
		done
		kill "$NEPID" 2>/dev/null
		wait "$NEPID" 2>/dev/null
		NEPID=
	done
	echo "FAIL: could not start node_exporter:"
	cat "$TMP/ne.log"
	return 1
}

stop_ne() {
	kill "$NEPID" 2>/dev/null
	wait "$NEPID" 2>/dev/null
	NEPID=
}

fail=0
total=0
for t in $TREES; do
	# A writable sysfs root with the tree's symlinks (see mktree.sh).
	tree=$TMP/tree.$t
	sh "$FIX/mktree.sh" "$FIX/$t" "$tree" || { echo "FAIL: mktree $t"; exit 1; }
	start_ne "$tree" || exit 1
	curl -sf "http://127.0.0.1:$NEPORT/metrics" > "$TMP/ne.$t" || {
		echo "FAIL: scrape of node_exporter on $t"; exit 1; }
	stop_ne
	if ! grep -q '^node_scrape_collector_success{collector="infiniband"} 1' "$TMP/ne.$t"; then
		echo "FAIL: node_exporter's infiniband collector failed on $t"
		exit 1
	fi
	if ! "$ACCELMON" --once --sysfs "$tree" --config "$TMP/accelmon.yaml" \
		> "$TMP/am.$t" 2> "$TMP/am.$t.err"; then
		echo "FAIL: accelmon --once on $t:"
		cat "$TMP/am.$t.err"
		exit 1
	fi
	# Clean, lint included (the saturation flag was renamed
	# fabric_port_stat_saturated for promtool: no exception left).
	"$PROMTOOL" check metrics < "$TMP/am.$t" > "$TMP/promtool.$t" 2>&1
	prc=$?
	if [ $prc -ne 0 ] || [ -s "$TMP/promtool.$t" ]; then
		echo "FAIL: promtool check metrics on accelmon's output for $t (exit $prc):"
		cat "$TMP/promtool.$t"
		fail=1
	fi
	# Compare. Maps node_exporter names to accelmon family [+ label].
	awk -v tree="$t" '
	function labels(s, out,   n, i, kv, parts) {
		delete out
		sub(/^[^{]*\{/, "", s); sub(/\}$/, "", s)
		n = split(s, parts, /",/)
		for (i = 1; i <= n; i++) {
			split(parts[i], kv, "=\"")
			gsub(/"$/, "", kv[2])
			out[kv[1]] = kv[2]
		}
	}
	BEGIN {
		# node_infiniband_<x> -> accelmon family[|type label]
		m["port_data_transmitted_bytes_total"] = "fabric_port_transmit_bytes_total"
		m["port_data_received_bytes_total"] = "fabric_port_receive_bytes_total"
		m["port_packets_transmitted_total"] = "fabric_port_transmit_packets_total"
		m["port_packets_received_total"] = "fabric_port_receive_packets_total"
		m["unicast_packets_transmitted_total"] = "fabric_port_unicast_transmit_packets_total"
		m["unicast_packets_received_total"] = "fabric_port_unicast_receive_packets_total"
		m["multicast_packets_transmitted_total"] = "fabric_port_multicast_transmit_packets_total"
		m["multicast_packets_received_total"] = "fabric_port_multicast_receive_packets_total"
		m["legacy_data_transmitted_bytes_total"] = "fabric_port_transmit_bytes_total"
		m["legacy_data_received_bytes_total"] = "fabric_port_receive_bytes_total"
		m["legacy_packets_transmitted_total"] = "fabric_port_transmit_packets_total"
		m["legacy_packets_received_total"] = "fabric_port_receive_packets_total"
		m["legacy_unicast_packets_transmitted_total"] = "fabric_port_unicast_transmit_packets_total"
		m["legacy_unicast_packets_received_total"] = "fabric_port_unicast_receive_packets_total"
		m["legacy_multicast_packets_transmitted_total"] = "fabric_port_multicast_transmit_packets_total"
		m["legacy_multicast_packets_received_total"] = "fabric_port_multicast_receive_packets_total"
		m["port_transmit_wait_total"] = "fabric_port_transmit_wait_total"
		m["symbol_error_total"] = "fabric_port_errors_total|symbol_error"
		m["port_errors_received_total"] = "fabric_port_errors_total|port_rcv_errors"
		m["port_receive_remote_physical_errors_total"] = "fabric_port_errors_total|port_rcv_remote_physical_errors"
		m["port_receive_switch_relay_errors_total"] = "fabric_port_errors_total|port_rcv_switch_relay_errors"
		m["port_discards_transmitted_total"] = "fabric_port_errors_total|port_xmit_discards"
		m["vl15_dropped_total"] = "fabric_port_errors_total|VL15_dropped"
		m["link_error_recovery_total"] = "fabric_port_errors_total|link_error_recovery"
		m["link_downed_total"] = "fabric_port_errors_total|link_downed"
		m["port_constraint_errors_transmitted_total"] = "fabric_port_errors_total|port_xmit_constraint_errors"
		m["port_constraint_errors_received_total"] = "fabric_port_errors_total|port_rcv_constraint_errors"
		m["local_link_integrity_errors_total"] = "fabric_port_errors_total|local_link_integrity_errors"
		m["excessive_buffer_overrun_errors_total"] = "fabric_port_errors_total|excessive_buffer_overrun_errors"
		m["rate_bytes_per_second"] = "fabric_port_link_speed_bytes_per_second"
		m["state_id"] = "fabric_port_state"
		m["physical_state_id"] = "fabric_port_physical_state"
		# On kernels before 4.5 the 64-bit counters_ext values are the
		# real ones; node_exporter also exports the 32-bit PortCounters
		# next to them (saturated at 2^32-1 words = 16 GiB on any busy
		# port). accelmon exports only the 64-bit value: deliberate
		# difference 1, checked below against the legacy_* series.
		shadow["port_data_transmitted_bytes_total"] = "legacy_data_transmitted_bytes_total"
		shadow["port_data_received_bytes_total"] = "legacy_data_received_bytes_total"
		shadow["port_packets_transmitted_total"] = "legacy_packets_transmitted_total"
		shadow["port_packets_received_total"] = "legacy_packets_received_total"
	}
	FNR == NR {
		# accelmon output
		if ($0 ~ /^#/ || $0 !~ /^fabric_/) next
		name = $1; sub(/\{.*/, "", name)
		labels($1, L)
		key = name SUBSEP L["device"] SUBSEP L["port"] SUBSEP L["type"]
		if (name == "fabric_device_info")
			key = name SUBSEP L["device"] SUBSEP L["board_id"] SUBSEP L["firmware_version"] SUBSEP L["hca_type"]
		ours[key] = $2
		next
	}
	/^node_infiniband_/ {
		name = $1; sub(/\{.*/, "", name); sub(/^node_infiniband_/, "", name)
		labels($1, L)
		ne[name SUBSEP L["device"] SUBSEP L["port"]] = 1
		neline[FNR] = $0
		nename[FNR] = name
		nedev[FNR] = L["device"]; neport[FNR] = L["port"]
		nebid[FNR] = L["board_id"]; nefw[FNR] = L["firmware_version"]; nehca[FNR] = L["hca_type"]
		neval[FNR] = $2
		last = FNR
	}
	END {
		for (i = 1; i <= last; i++) {
			if (!(i in neline)) continue
			name = nename[i]
			if (name == "info") {
				key = "fabric_device_info" SUBSEP nedev[i] SUBSEP nebid[i] SUBSEP nefw[i] SUBSEP nehca[i]
				total++
				if (!(key in ours)) {
					printf "FAIL %s: no fabric_device_info for %s\n", tree, neline[i]; bad++
				}
				continue
			}
			if ((name in shadow) && ((shadow[name] SUBSEP nedev[i] SUBSEP neport[i]) in ne)) {
				diff1++
				continue
			}
			if (!(name in m)) {
				printf "FAIL %s: node_infiniband_%s has no counterpart in accelmon (add one, or name the difference)\n", tree, name
				bad++
				continue
			}
			split(m[name], fm, "|")
			key = fm[1] SUBSEP nedev[i] SUBSEP neport[i] SUBSEP fm[2]
			total++
			if (!(key in ours)) {
				printf "FAIL %s: %s missing in accelmon (expected %s)\n", tree, neline[i], m[name]; bad++
			} else if (ours[key] + 0 != neval[i] + 0) {
				printf "FAIL %s: %s but accelmon %s = %s\n", tree, neline[i], m[name], ours[key]; bad++
			}
		}
		printf "%s: %d node_infiniband series compared, %d differ", tree, total, bad + 0
		if (diff1) printf "; %d 32-bit PortCounters shadowed by counters_ext (deliberate difference 1)", diff1
		printf "\n"
		exit bad ? 1 : 0
	}' "$TMP/am.$t" "$TMP/ne.$t" > "$TMP/cmp.$t"
	rc=$?
	cat "$TMP/cmp.$t"
	[ $rc -eq 0 ] || fail=1
	n=$(sed -n 's/^[a-z0-9]*: \([0-9]*\) node_infiniband series compared.*/\1/p' "$TMP/cmp.$t")
	total=$((total + ${n:-0}))
done

# Deliberate difference 2: node_exporter 1.5.0 reads no hw_counters at all
# (no RoCE congestion, retransmit or completion-error counters, and no
# lifespan); later versions export hw_counters/lifespan, which the kernel
# gives in milliseconds, as node_infiniband_lifespan_seconds_total 0 for the
# default 10 ms. accelmon exports fabric_roce_* and the lifespan as a gauge
# in seconds: 10 ms -> 0.01.
if grep -q '^node_infiniband_.*lifespan' "$TMP/ne.roce"; then
	echo "note: this node_exporter prints: $(grep '^node_infiniband_.*lifespan' "$TMP/ne.roce" | head -1)"
else
	echo "note: this node_exporter exports no hw_counters (no lifespan, no RoCE counters)"
fi
if ! grep -q '^fabric_roce_lifespan_seconds{device="mlx5_0",port="1"} 0.01$' "$TMP/am.roce"; then
	echo "FAIL: accelmon lifespan: expected 10 ms as 0.01 s, got:"
	grep lifespan "$TMP/am.roce"
	fail=1
fi
if ! grep -q '^fabric_roce_cnp_sent_total{device="mlx5_0",port="1"} 123456789012$' "$TMP/am.roce" ||
   ! grep -q '^fabric_roce_cnp_sent_total{device="rocep23s0f1",port="1"} ' "$TMP/am.roce"; then
	echo "FAIL: accelmon RoCE CNP counters (mlx5_0 and renamed rocep23s0f1) missing or wrong"
	fail=1
fi
# Difference 1 checked from accelmon's side: 64-bit bytes on the old kernel.
if ! grep -q '^fabric_port_transmit_bytes_total{device="mlx4_0",port="1"} 100000804472004$' "$TMP/am.oldkernel"; then
	echo "FAIL: old kernel: transmit bytes not from counters_ext/port_xmit_data_64"
	fail=1
fi
echo "total: $total node_infiniband series compared over $TREES"
if [ $fail -ne 0 ]; then
	echo "FAIL"
	exit 1
fi
echo "PASS"
exit 0
