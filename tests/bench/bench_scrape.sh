#!/bin/bash
# Scrape benchmark: wrk (8 connections) against accelmon and against Debian's
# prometheus-node-exporter serving the same sysfs fixture, side by side.
# Prints requests/s, latency percentiles, resident memory and the ratios.
# Not a test: figures only. Usage: bench_scrape.sh [ACCELMON] [SECONDS]
# NE_COLLECTORS=netclass (default: the same data as accelmon's netdev) or
# NE_COLLECTORS=defaults (node_exporter as operators run it, sysfs from the
# fixture, everything else from the live machine).
set -u
here=$(cd "$(dirname "$0")" && pwd)
ACCELMON=${1:-${ACCELMON:-$here/../../accelmon}}
SECS=${2:-10}
FIX="$here/../fixtures/netdev/sys"
for t in wrk prometheus-node-exporter curl; do
  command -v "$t" >/dev/null || { echo "bench_scrape: $t not installed"; exit 0; }
done
work=$(mktemp -d); pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT

up() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

# wrk's --latency table -> "req/s p50 p99" (p50/p99 in ms)
run_wrk() {
  wrk -t2 -c8 -d"${SECS}s" --latency "$1" > "$work/wrk.txt" 2>&1
  awk '
    function ms(v) { if (v ~ /us$/) return v + 0 / 1; return v }
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    END {print rps, p50, p99}' "$work/wrk.txt"
}
to_ms() { # 123.45us | 1.2ms | 2.1s -> ms
  case "$1" in *us) awk -v v="${1%us}" 'BEGIN{printf "%.3f", v/1000}';;
               *ms) awk -v v="${1%ms}" 'BEGIN{printf "%.3f", v}';;
               *s) awk -v v="${1%s}" 'BEGIN{printf "%.3f", v*1000}';; *) echo "$1";; esac
}

cat > "$work/a.yaml" <<YAML
collectors:
  netdev: {physical_only: false, exclude: ""}
exporters:
  prometheus: {threads: ${BENCH_THREADS:-1}}
YAML
"$ACCELMON" --config "$work/a.yaml" --sysfs "$FIX" --listen 127.0.0.1:19917 --log-level warn &
pids="$pids $!"; apid=$!
if [ "${NE_COLLECTORS:-netclass}" = defaults ]; then ne_args=""
else ne_args="--collector.disable-defaults --collector.netclass"; fi
prometheus-node-exporter $ne_args \
  --path.sysfs="$FIX" --web.listen-address=127.0.0.1:19100 --log.level=warn 2>/dev/null &
pids="$pids $!"; npid=$!
up http://127.0.0.1:19917/metrics && up http://127.0.0.1:19100/metrics || { echo "servers did not start"; exit 1; }
sleep 1
asz=$(curl -s http://127.0.0.1:19917/metrics | wc -c); nsz=$(curl -s http://127.0.0.1:19100/metrics | wc -c)
# Both series counts of the shared data: interfaces in the fixture.
echo "fixture: $(ls "$FIX/class/net" | wc -l) interfaces; node_exporter collectors: ${NE_COLLECTORS:-netclass}; body sizes: accelmon ${asz} B, node_exporter ${nsz} B"

read -r a_rps a_p50 a_p99 < <(run_wrk http://127.0.0.1:19917/metrics)
a_rss=$(rss_kb $apid)
read -r n_rps n_p50 n_p99 < <(run_wrk http://127.0.0.1:19100/metrics)
n_rss=$(rss_kb $npid)
a_p50=$(to_ms "$a_p50"); a_p99=$(to_ms "$a_p99"); n_p50=$(to_ms "$n_p50"); n_p99=$(to_ms "$n_p99")

printf '\n%-28s %14s %14s %10s\n' "wrk -t2 -c8 -d${SECS}s" accelmon node_exporter ratio
printf '%-28s %14.0f %14.0f %9.1fx\n' "requests/s" "$a_rps" "$n_rps" "$(awk -v a="$a_rps" -v b="$n_rps" 'BEGIN{print a/b}')"
printf '%-28s %14.3f %14.3f %9.1fx\n' "p50 latency (ms)" "$a_p50" "$n_p50" "$(awk -v a="$a_p50" -v b="$n_p50" 'BEGIN{print b/a}')"
printf '%-28s %14.3f %14.3f %9.1fx\n' "p99 latency (ms)" "$a_p99" "$n_p99" "$(awk -v a="$a_p99" -v b="$n_p99" 'BEGIN{print b/a}')"
printf '%-28s %14d %14d %9.2fx\n' "resident memory (KiB)" "$a_rss" "$n_rss" "$(awk -v a="$a_rss" -v b="$n_rss" 'BEGIN{print a/b}')"
echo "(latency ratio: node_exporter / accelmon; memory ratio: accelmon / node_exporter)"
