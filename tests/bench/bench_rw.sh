#!/bin/bash
# Remote write benchmark: one agent (sim with DEVICES accelerators and the
# netdev fixture) pushes every 100 ms to tests/rw_recv answering 204 at once
# (no decoding). Prints samples/s pushed, CPU of the push threads per 10,000
# samples (encode + snappy + HTTP), and beside it the agent's CPU for one
# /metrics scrape of the same series (plain and gzip; the rendering both
# share is the aggregator's, paid once per snapshot either way). Figures
# only, never pass/fail. CPU comes from /proc in clock ticks (10 ms), so
# runs shorter than 10 s are coarse. Usage: bench_rw.sh ACCELMON RW_RECV [SECONDS] [DEVICES]
set -u
ACCELMON=$1; RECV=$2; SECS=${3:-10}; DEV=${4:-256}
here=$(cd "$(dirname "$0")" && pwd)
FIX="$here/../fixtures/netdev/sys"
command -v curl >/dev/null || { echo "bench_rw: curl not installed"; exit 0; }
work=$(mktemp -d); pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
up() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
tck=$(getconf CLK_TCK)
# CPU seconds (user + system) of the process, or of its threads whose name
# starts with $2 (am-rw-: the push thread, which encodes, and the sender)
cpu() {
  if [ -n "${2:-}" ]; then
    for t in /proc/$1/task/*; do
      case "$(cat "$t/comm" 2>/dev/null)" in "$2"*) cat "$t/stat" ;; esac
    done
  else cat "/proc/$1/stat"; fi |
    awk -v t="$tck" '{ sub(/.*\) /, ""); s += $12 + $13 } END { printf "%.3f", s / t }'
}
sent() {
  curl -fsS "http://127.0.0.1:19928/metrics" |
    awk '/^accelmon_remote_write_samples_sent_total/ { s += $2 } END { printf "%d", s }'
}
"$RECV" 19929 - --no-decode > "$work/recv.out" 2>&1 &
rpid=$!; pids="$pids $rpid"
cat > "$work/a.yaml" <<YAML
collectors:
  sim: {devices: $DEV}
exporters:
  remote_write:
    url: http://127.0.0.1:19929/api/v1/write
    interval: 100ms
    max_samples_per_request: 2000
YAML
"$ACCELMON" --config "$work/a.yaml" --sysfs "$FIX" --listen 127.0.0.1:19928 --log-level error &
apid=$!; pids="$pids $apid"
up http://127.0.0.1:19928/metrics || { echo "bench_rw: agent did not start"; exit 1; }
sleep 3
nser=$(curl -fsS http://127.0.0.1:19928/metrics | grep -v '^#' | grep -vc '^accelmon_\|^process_')
size=$(curl -fsS http://127.0.0.1:19928/metrics | wc -c)
gz=$(curl -fsS -H 'Accept-Encoding: gzip' http://127.0.0.1:19928/metrics | wc -c)
echo "series pushed per interval: $nser (sim devices: $DEV + netdev fixture); /metrics $size B, gzip $gz B"

s0=$(sent); c0=$(cpu $apid am-rw-); p0=$(cpu $apid); t0=$(date +%s.%N)
sleep "$SECS"
s1=$(sent); c1=$(cpu $apid am-rw-); p1=$(cpu $apid); t1=$(date +%s.%N)
awk -v s="$((s1 - s0))" -v c="$c1" -v c0="$c0" -v p="$p1" -v p0="$p0" -v t="$t1" -v t0="$t0" -v n="$nser" 'BEGIN {
  dt = t - t0
  printf "remote write: %.0f samples/s pushed (%.1f pushes/s of %d series), push thread CPU %.1f%%\n", s / dt, s / dt / n, n, (c - c0) / dt * 100
  if (s > 0) printf "remote write: %.3f ms CPU per 10,000 samples (encode + snappy + POST); %.0f samples/s per CPU core\n", (c - c0) / s * 1e4 * 1000, s / (c - c0 > 0 ? c - c0 : 1e-9)
  printf "whole agent while pushing: %.1f%% CPU\n", (p - p0) / dt * 100
}'
base=$(awk -v p="$p1" -v p0="$p0" -v t="$t1" -v t0="$t0" 'BEGIN { print (p - p0) / (t - t0) }')
# push CPU ms per 10,000 samples, for the ratio to a scrape
push10k=$(awk -v s="$((s1 - s0))" -v c="$c1" -v c0="$c0" 'BEGIN { print (s > 0 ? (c - c0) / s * 1e7 : 0) }')
for enc in identity gzip; do
  n=${BENCH_RW_SCRAPES:-500}
  q0=$(cpu $apid); u0=$(date +%s.%N)
  for _ in $(seq 1 $n); do curl -fsS -o /dev/null -H "Accept-Encoding: $enc" http://127.0.0.1:19928/metrics; done
  q1=$(cpu $apid); u1=$(date +%s.%N)
  awk -v q="$q1" -v q0="$q0" -v u="$u1" -v u0="$u0" -v b="$base" -v n="$n" -v e="$enc" -v ns="$nser" -v pk="$push10k" 'BEGIN {
    extra = (q - q0) - b * (u - u0); if (extra < 0) extra = 0
    per10k = extra / n / ns * 1e4 * 1000
    printf "scrape (%s): %.3f ms agent CPU per scrape of %d series (%d scrapes, pushing went on), %.3f ms per 10,000 series\n", e, extra / n * 1000, ns, n, per10k
    if (per10k > 0 && pk > 0) printf "ratio: pushing 10,000 samples costs %.1fx the CPU of scraping 10,000 series (%s)\n", pk / per10k, e }'
done
kill -TERM "$rpid"; wait "$rpid" 2>/dev/null
echo "receiver: $(cat "$work/recv.out")"
