#!/bin/bash
# The agent (sim and the netdev fixture) pushes by remote write to Debian's
# Prometheus (--web.enable-remote-write-receiver) and, when installed,
# VictoriaMetrics; through each one's query API the series and their values
# equal those on the agent's /metrics (external label cluster="it" added).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rw_lib.sh"
need curl
need jq
need prometheus

aport=$(free_port); pport=$(free_port)
urls="http://127.0.0.1:$pport/api/v1/write"
start_prom_rw "$pport" "$WORK/tsdb"
receivers="http://127.0.0.1:$pport"
rel=0
if command -v victoria-metrics >/dev/null 2>&1; then
  vport=$(free_port)
  start_vm "$vport" "$WORK/vm"
  urls="$urls, http://127.0.0.1:$vport/api/v1/write"
  receivers="$receivers http://127.0.0.1:$vport"
  vmr="http://127.0.0.1:$vport"
else
  echo "note: victoria-metrics is not installed; Prometheus only"
fi
cat > "$WORK/a.yaml" <<YAML
collectors:
  sim: {devices: 2}
exporters:
  remote_write:
    url: [$urls]
    interval: 1s
    external_labels: [cluster=it]
YAML
start_agent --config "$WORK/a.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$aport"
wait_http "http://127.0.0.1:$aport/-/healthy" || fail "agent did not come up: $(cat "$WORK/agent.log")"
sleep 2
for r in $receivers; do
  ok_r=""
  # Prometheus keeps the exact double; VictoriaMetrics stores a decimal
  # mantissa and exponent (lib/decimal), which can move the last bit.
  rel=0; [ "$r" = "${vmr:-}" ] && rel=1e-14
  for _ in $(seq 1 30); do
    metrics_norm "http://127.0.0.1:$aport/metrics" 'cluster="it"' > "$WORK/before"
    sleep 1.2 # at least one push after `before`
    query_norm "$r" '{cluster="it"}' > "$WORK/got"
    metrics_norm "http://127.0.0.1:$aport/metrics" 'cluster="it"' > "$WORK/after"
    if same_series "$WORK/before" "$WORK/got" >/dev/null && values_match "$WORK/before" "$WORK/got" "$WORK/after" "$rel" >/dev/null; then
      ok_r=1; break
    fi
  done
  [ -n "$ok_r" ] || fail "$r: stored series differ from /metrics:
$(same_series "$WORK/before" "$WORK/got" | head -20)
$(values_match "$WORK/before" "$WORK/got" "$WORK/after" "$rel" | head -20)
agent log: $(tail -5 "$WORK/agent.log")"
  ok "$r: $(wc -l < "$WORK/got") series and their values equal /metrics (relative error <= $rel)"
done
m=$(curl -fsS "http://127.0.0.1:$aport/metrics")
echo "$m" | grep -q "^accelmon_remote_write_samples_sent_total{url=\"http://127.0.0.1:$pport/api/v1/write\"} [1-9]" ||
  fail "no samples counted as sent: $(echo "$m" | grep remote_write_samples_sent)"
# 4 reasons per URL, all 0
echo "$m" | awk '/^accelmon_remote_write_samples_failed_total\{url=/ { n++; s += $2 } END { exit !(n >= 4 && n % 4 == 0 && s == 0) }' ||
  fail "failures counted: $(echo "$m" | grep failed)"
ok "accelmon_remote_write_samples_sent_total counts, nothing failed"
if command -v promtool >/dev/null 2>&1; then
  echo "$m" | promtool check metrics >"$WORK/lint" 2>&1 || fail "promtool: $(cat "$WORK/lint")"
  ok "promtool check metrics is clean with the remote write self metrics"
fi
echo "remote_write: all checks passed"
