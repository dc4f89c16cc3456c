#!/bin/sh
# Benchmark: CPU time of one poll of the InfiniBand collector on the 8-HCA
# NDR fixture (mean over many polls, tests/bench/bench_ib.c) against
# node_exporter's own node_scrape_collector_duration_seconds{collector=
# "infiniband"} on the same tree (median of several scrapes). Prints both and
# the ratio; never fails on timing (target: at least 10x less).
# Usage: BENCH_IB_BIN=... tests/bench/bench_ib.sh [SYSFS_ROOT] [POLLS] [SCRAPES]
# (make bench-ib builds the binaries and sets it)
set -u
SRC=${ABS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
ROOT=${1:-}
POLLS=${2:-20000}
SCRAPES=${3:-21}
NE=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
TMP=$(mktemp -d)
NEPID=
cleanup() {
	[ -n "$NEPID" ] && kill "$NEPID" 2>/dev/null && wait "$NEPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

if [ -z "$ROOT" ]; then
	# The 8-HCA fixture with its symlinks (see mktree.sh).
	ROOT=$TMP/ndr8
	sh "$SRC/tests/fixtures/infiniband/mktree.sh" \
		"$SRC/tests/fixtures/infiniband/ndr8" "$ROOT" || exit 1
fi
# Built by make bench-ib (the collector on tests/fake_am.c).
BIN=${BENCH_IB_BIN:-}
[ -n "$BIN" ] && [ -x "$BIN" ] || {
	echo "bench_ib: BENCH_IB_BIN not set or not executable (run make bench-ib)"
	exit 1
}
"$BIN" "$ROOT" "$POLLS" > "$TMP/ours" || exit 1
cat "$TMP/ours"
ours=$(sed -n 's/^cpu_seconds_per_poll=//p' "$TMP/ours")
# Through the core (ring + aggregator), when make bench-ib built it.
core=
if [ -n "${BENCH_IB_CORE_BIN:-}" ] && [ -x "$BENCH_IB_CORE_BIN" ]; then
	"$BENCH_IB_CORE_BIN" "$ROOT" "$POLLS" > "$TMP/core" || exit 1
	cat "$TMP/core"
	core=$(sed -n 's/^core_cpu_seconds_per_poll=//p' "$TMP/core")
fi

if [ ! -x "$NE" ]; then
	echo "node_exporter not found ($NE): no comparison"
	exit 0
fi
for try in 1 2 3 4 5 6 7 8; do
	port=$(( 20000 + ($$ * 7 + try * 131) % 20000 ))
	"$NE" --collector.disable-defaults --collector.infiniband \
		--path.sysfs="$ROOT" --web.listen-address=127.0.0.1:$port \
		> "$TMP/ne.log" 2>&1 &
	NEPID=$!
	i=0
	while [ $i -lt 50 ]; do
		curl -sf "http://127.0.0.1:$port/metrics" > /dev/null 2>&1 && break
		kill -0 "$NEPID" 2>/dev/null || break
		sleep 0.1; i=$((i + 1))
	done
	if curl -sf "http://127.0.0.1:$port/metrics" > /dev/null 2>&1; then
		break
	fi
	kill "$NEPID" 2>/dev/null; wait "$NEPID" 2>/dev/null; NEPID=
done
[ -n "$NEPID" ] || { echo "could not start node_exporter"; cat "$TMP/ne.log"; exit 1; }
n=0
while [ $n -lt "$SCRAPES" ]; do
	curl -sf "http://127.0.0.1:$port/metrics" |
		sed -n 's/^node_scrape_collector_duration_seconds{collector="infiniband"} //p' >> "$TMP/ne"
	n=$((n + 1))
done
ne=$(sort -g "$TMP/ne" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
echo "node_exporter_scrape_seconds_median=$ne (of $SCRAPES scrapes, wall time of its infiniband collector)"
awk -v a="$ours" -v b="$ne" 'BEGIN {
	printf "accelmon_poll_cpu_us=%.1f node_exporter_us=%.1f ratio=%.1fx (target >= 10x)\n",
		a * 1e6, b * 1e6, b / a }'
if [ -n "$core" ]; then
	awk -v a="$core" -v b="$ne" 'BEGIN {
	printf "accelmon_poll_plus_aggregation_cpu_us=%.1f node_exporter_us=%.1f ratio=%.1fx\n",
		a * 1e6, b * 1e6, b / a }'
fi
