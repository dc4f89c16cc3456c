#!/bin/bash
# Soak: simulated collectors polled every 100 ms, record files written, and
# /metrics scraped without pause; after a warm-up, resident memory may grow
# by less than 1% and the number of open files not at all. 60 s in CI (a
# long test); ACCELMON_SOAK_SECONDS=600 for the 10 minutes outside CI.
# Prints the figures.
. "$(dirname "$0")/lib.sh"
long_test
need curl
secs=${ACCELMON_SOAK_SECONDS:-60}
warm=$(( secs / 6 > 10 ? secs / 6 : 10 ))

port=$(free_port)
url="http://127.0.0.1:$port/metrics"
cat >"$WORK/s.yaml" <<YAML
collectors:
  netdev: {interval: 100ms}
  sim: {devices: 16, ports: 8, interval: 100ms}
exporters:
  records: {dir: "$WORK/rec", interval: 1s}
YAML
start_agent --config "$WORK/s.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$port"
wait_http "$url" || fail "agent did not come up: $(cat "$WORK/agent.log")"

# Constant scraping, plain and gzip, until told to stop.
( while [ ! -f "$WORK/stop" ]; do
    curl -fsS -o /dev/null --max-time 5 "$url" || echo x >>"$WORK/scrape-fail"
    curl -fsS -o /dev/null --max-time 5 -H 'Accept-Encoding: gzip' "$url" ||
      echo x >>"$WORK/scrape-fail"
    echo x >>"$WORK/scrapes"
  done ) &
scraper=$!
PIDS="$PIDS $scraper"

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$AGENT_PID/status"; }
fds() { ls "/proc/$AGENT_PID/fd" | wc -l; }
sleep "$warm"
rss0=$(rss); fd0=$(fds); t0=$(date +%s)
max=$rss0
while [ $(( $(date +%s) - t0 )) -lt $(( secs - warm )) ]; do
  sleep 1
  kill -0 "$AGENT_PID" 2>/dev/null || fail "agent died: $(tail -5 "$WORK/agent.log")"
  r=$(rss); [ "$r" -gt "$max" ] && max=$r
done
rss1=$(rss); fd1=$(fds)
touch "$WORK/stop"; wait "$scraper"
n=$(( $(wc -l <"$WORK/scrapes") * 2 ))
bad=$(cat "$WORK/scrape-fail" 2>/dev/null | wc -l)
growth=$(awk -v a="$rss0" -v b="$rss1" 'BEGIN { printf "%.2f", (b - a) * 100 / a }')
echo "soak ${secs}s (warm-up ${warm}s): RSS ${rss0} -> ${rss1} KiB (${growth}%, peak ${max}), fds ${fd0} -> ${fd1}, ${n} scrapes, ${bad} failed"
[ "$bad" = 0 ] || fail "$bad of $n scrapes failed"
awk -v g="$growth" 'BEGIN { exit !(g < 1.0) }' || fail "resident memory grew ${growth}% (limit 1%)"
[ "$fd1" -le "$fd0" ] || fail "open files grew from $fd0 to $fd1"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "exit status $?"
ok "soak: RSS growth ${growth}%, fds ${fd0} -> ${fd1}, ${n} scrapes"
