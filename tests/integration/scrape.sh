#!/bin/bash
# The agent on the fixture tree, scraped with curl: promtool finds nothing in
# the output; content negotiation, gzip, status codes; SIGHUP with a bad and
# a good config; SIGTERM ends it cleanly.
. "$(dirname "$0")/lib.sh"
need curl
need promtool

port=$(free_port)
url="http://127.0.0.1:$port"
printf 'collectors:\n  netdev: {interval: 200ms}\n  sim: {devices: 2, interval: 200ms}\n' > "$WORK/a.yaml"
start_agent --config "$WORK/a.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$port"
wait_http "$url/-/healthy" || fail "agent did not answer: $(cat "$WORK/agent.log")"
sleep 0.6

grep -q "netdev: 3 interfaces under" "$WORK/agent.log" || fail "no netdev startup line: $(cat "$WORK/agent.log")"
grep -q "sim: 2 simulated accelerators" "$WORK/agent.log" || fail "no sim startup line"

curl -fsS -D "$WORK/h" "$url/metrics" > "$WORK/m.txt" || fail "GET /metrics"
grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' "$WORK/h" || fail "text content type: $(cat "$WORK/h")"
promtool check metrics < "$WORK/m.txt" > "$WORK/lint" 2>&1 || fail "promtool check metrics: $(cat "$WORK/lint")"
[ -s "$WORK/lint" ] && fail "promtool findings: $(cat "$WORK/lint")"
ok "promtool check metrics: no findings ($(grep -vc '^#' "$WORK/m.txt") samples)"
grep -q '^fabric_netdev_receive_packets_total{device="eth0"} 10002$' "$WORK/m.txt" || fail "netdev value"
grep -q '^accelmon_collector_up{collector="netdev"} 1$' "$WORK/m.txt" || fail "collector up"
grep -q '^accel_utilization_ratio{device="sim1",uuid="SIM-00000000-0000-0000-0000-000000000001"} 0.25$' "$WORK/m.txt" || fail "sim value"

prom_accept='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
curl -fsS -D "$WORK/h" -H "Accept: $prom_accept" "$url/metrics" > "$WORK/om.txt"
grep -qi '^content-type: application/openmetrics-text; version=1.0.0; charset=utf-8' "$WORK/h" || fail "OM content type"
[ "$(tail -1 "$WORK/om.txt")" = "# EOF" ] || fail "OpenMetrics body does not end in # EOF"
grep -q '^# TYPE fabric_netdev_receive_bytes counter$' "$WORK/om.txt" || fail "OM counter family name"
grep -q '^# UNIT fabric_netdev_receive_bytes bytes$' "$WORK/om.txt" || fail "OM unit"
grep -q '^fabric_netdev_receive_bytes_total{device="eth0"} ' "$WORK/om.txt" || fail "OM counter sample"
ok "OpenMetrics negotiated, # EOF last"

curl -fsS -D "$WORK/h" -H 'Accept-Encoding: gzip' "$url/metrics" -o "$WORK/m.gz"
grep -qi '^content-encoding: gzip' "$WORK/h" || fail "no gzip"
gzip -dc "$WORK/m.gz" | grep -q '^fabric_netdev_mtu_bytes{device="eth0"} 9000$' || fail "gzip body"
ok "gzip"

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$url/")" = 200 ] || fail "GET /"
[ "$(code "$url/-/healthy")" = 200 ] || fail "healthy"
[ "$(code "$url/nothing")" = 404 ] || fail "404"
[ "$(code -X POST "$url/metrics")" = 405 ] || fail "405"
[ "$(code -I "$url/metrics")" = 200 ] || fail "HEAD"
ok "/, /-/healthy, 404, 405, HEAD"

# SIGHUP with a broken file: old config keeps running, the log says why.
cp "$WORK/a.yaml" "$WORK/a.good"
printf 'collectors:\n  netdev: {interval: 200ms, bogus: 1}\n' > "$WORK/a.yaml"
kill -HUP "$AGENT_PID"; sleep 0.5
kill -0 "$AGENT_PID" || fail "agent died on a bad reload"
grep -q "reload failed, keeping the running config: .*a.yaml:2: collectors.netdev.bogus: unknown key" "$WORK/agent.log" || fail "bad reload not logged: $(cat "$WORK/agent.log")"
curl -fsS "$url/metrics" | grep -q 'accel_utilization_ratio' || fail "scrape after bad reload"
ok "bad reload kept the running config"

# SIGHUP with a good file: sim switched off, netdev goes on.
printf 'collectors:\n  netdev: {interval: 200ms}\n' > "$WORK/a.yaml"
kill -HUP "$AGENT_PID"; sleep 1.2
grep -q "configuration reloaded" "$WORK/agent.log" || fail "reload not logged"
curl -fsS "$url/metrics" > "$WORK/m2.txt"
grep -q 'accel_utilization_ratio' "$WORK/m2.txt" && fail "sim series survived its removal"
grep -q '^fabric_netdev_up{device="eth0"} 1$' "$WORK/m2.txt" || fail "netdev after reload"
ok "good reload applied"

# Reload can switch the HTTP server off and on again, and apply new options.
printf 'collectors:\n  netdev: {interval: 200ms}\nexporters:\n  prometheus: {enabled: false}\n' > "$WORK/a.yaml"
kill -HUP "$AGENT_PID"; sleep 0.5
curl -fsS -o /dev/null --max-time 1 "$url/metrics" 2>/dev/null && fail "HTTP still served after a reload that disabled it"
printf 'collectors:\n  netdev: {interval: 200ms}\nexporters:\n  prometheus: {connection_limit: 16}\n' > "$WORK/a.yaml"
kill -HUP "$AGENT_PID"
wait_http "$url/metrics" 5 || fail "HTTP not served again after re-enabling it: $(tail -3 "$WORK/agent.log")"
ok "reload switched the HTTP server off and on"

kill -TERM "$AGENT_PID"
for _ in $(seq 1 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$AGENT_PID" 2>/dev/null && fail "agent still running 5 s after SIGTERM"
wait "$AGENT_PID"; rc=$?
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
grep -q "SIGTERM: shutting down" "$WORK/agent.log" || fail "no shutdown line"
ok "SIGTERM: clean exit 0"
echo "scrape: all checks passed"
