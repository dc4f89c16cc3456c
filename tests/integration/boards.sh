#!/bin/bash
# "With --simulate 8 a newcomer sees every panel filled": a real Prometheus
# with the rules of dashboards/ (the test's copy averages over 20s instead of
# 5m and 1h: rate() divides by its whole window) scrapes `accelmon
# --simulate 8`, then every query of every panel of the three boards runs
# through its API, and each panel must return data. Panels allowed to be
# empty would be listed below, each with its reason (an entry that gets data
# fails, so the list cannot go stale); today there are none.
. "$(dirname "$0")/lib.sh"
need curl
need prometheus
need python3

aport=$(free_port); pport=$(free_port)
# the netdev fixture for the Ethernet panels; a flap every 8 s (down 1.6 s), a failure
# after 6 s (fail_for 30 s: still down when the queries run)
cat > "$WORK/a.yaml" <<YAML
collectors:
  sim: {devices: 8, demo: true, flap_period: 8s, fail_after: 6s, fail_for: 30s}
YAML
# The per-peer panels (pcap collector, issue 15): this agent and a second
# one replay the same generated capture, from both ends of the 10.0.0.1 /
# 10.1.0.2 pair, so the node-by-node matrix has two nodes.
bport=$(free_port)
if [ -x "$ABS_BUILDDIR/tests/pcap_gen" ]; then
  "$ABS_BUILDDIR/tests/pcap_gen" "$WORK/peers.pcap" 5000 20 || fail "pcap_gen"
  cat >> "$WORK/a.yaml" <<YAML
  pcap: {file: "$WORK/peers.pcap", local_addresses: [10.0.0.1, "fd00::1"], node: node-a, top_k: 1000}
YAML
  printf 'collectors:\n  pcap: {file: "%s", local_addresses: [10.1.0.2], node: node-b}\n' \
    "$WORK/peers.pcap" > "$WORK/b.yaml"
  "$ACCELMON" --config "$WORK/b.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$bport" \
    >"$WORK/b.out" 2>"$WORK/b.log" &
  PIDS="$PIDS $!"
fi
start_agent --config "$WORK/a.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$aport"
sed 's/\[5m\]/[20s]/g; s/\[1h\]/[20s]/g; s/\[1d\]/[20s]/g' "$ABS_SRCDIR/dashboards/accelmon.rules.yml" > "$WORK/rules.yml"
cat > "$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [$WORK/rules.yml]
scrape_configs:
  - job_name: accelmon
    static_configs: [{targets: ["127.0.0.1:$aport", "127.0.0.1:$bport"], labels: {cluster: demo}}]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$WORK/prom.log" 2>&1 &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$pport/-/ready" 30 || fail "prometheus not ready: $(tail -5 "$WORK/prom.log")"
wait_http "http://127.0.0.1:$aport/-/healthy" || fail "agent did not come up: $(cat "$WORK/agent.log")"
sleep 25

# Panels allowed to be empty, one a line with the reason above it: none
# (but the per-peer ones where configure found no libpcap).
: > "$WORK/allowed"
if [ ! -x "$ABS_BUILDDIR/tests/pcap_gen" ]; then
  python3 - "$ABS_SRCDIR/dashboards/accelmon-fabric.json" >> "$WORK/allowed" <<'PY'
import json, sys
on = False
for p in json.load(open(sys.argv[1]))["panels"]:
    if p["type"] == "row":
        on = p["title"].startswith("Who talks to whom")
    elif on:
        print("accelmon-fabric.json: panel '%s'" % p["title"])
PY
fi
python3 "$ABS_SRCDIR/tests/integration/dashcheck.py" --filled "$ABS_SRCDIR/dashboards" \
  "http://127.0.0.1:$pport" "$WORK/allowed" || fail "a panel has no data with --simulate 8"
echo "boards: all checks passed"
