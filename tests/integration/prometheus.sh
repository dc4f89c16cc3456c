#!/bin/bash
# A real Prometheus (Debian package) scrapes the agent on loopback; through
# its HTTP API: up == 1, and netdev and sim series are stored.
. "$(dirname "$0")/lib.sh"
need curl
need prometheus

aport=$(free_port); pport=$(free_port)
printf 'collectors:\n  sim: {devices: 2}\n' > "$WORK/a.yaml"
start_agent --config "$WORK/a.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$aport"
wait_http "http://127.0.0.1:$aport/-/healthy" || fail "agent did not come up"
cat > "$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: accelmon
    static_configs: [{targets: ["127.0.0.1:$aport"]}]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$WORK/prom.log" 2>&1 &
PIDS="$PIDS $!"
api="http://127.0.0.1:$pport/api/v1"
wait_http "http://127.0.0.1:$pport/-/ready" 30 || fail "prometheus not ready: $(tail -5 "$WORK/prom.log")"

query() { curl -fsS --get --data-urlencode "query=$1" "$api/query"; }
ok_up=""
for _ in $(seq 1 40); do
  r=$(query 'up{job="accelmon"}')
  echo "$r" | grep -q '"value":\[[0-9.]*,"1"\]' && { ok_up=1; break; }
  sleep 0.5
done
[ -n "$ok_up" ] || fail "up{job=\"accelmon\"} never became 1: $r; $(query 'scrape_samples_scraped')"
ok "Prometheus: up == 1"
r=$(query 'fabric_netdev_receive_packets_total{device="eth0"}')
echo "$r" | grep -q '"value":\[[0-9.]*,"10002"\]' || fail "netdev series not stored: $r"
ok "Prometheus stored fabric_netdev_receive_packets_total{device=\"eth0\"} = 10002"
# A window of several scrapes: with only three a scrape delayed on a loaded
# machine halves or doubles the rate.
sleep 9
r=$(query 'rate(accel_busy_seconds_total{device="sim1"}[8s])')
v=$(echo "$r" | sed -n 's/.*"value":\[[0-9.]*,"\([0-9.e+-]*\)"\].*/\1/p')
[ -n "$v" ] || fail "no busy-seconds rate: $r"
awk -v v="$v" 'BEGIN{exit !(v > 0.2 && v < 0.3)}' || fail "rate(accel_busy_seconds_total) for sim1 = $v, want 0.25"
ok "rate(accel_busy_seconds_total{device=\"sim1\"}[8s]) = $v (sim1 is 25% busy)"
r=$(curl -fsS "$api/targets")
echo "$r" | grep -q '"lastError":""' || fail "scrape error: $r"
echo "prometheus: all checks passed"
