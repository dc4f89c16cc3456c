#!/bin/bash
# Outage: Prometheus and (when installed) VictoriaMetrics stop for
# RW_OUTAGE_S seconds (default 30) and start again on the same data
# directories. Two agents push every second with a spool: agent a runs
# through the outage, agent b is restarted in the middle of it. Through each
# receiver's query API every push interval of the outage is there: for
# every series the samples in the outage window number the intervals, with
# no gap longer than 1.5 intervals (for b one gap, at its restart).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rw_lib.sh"
need curl
need jq
need prometheus
long_test
OUTAGE=${RW_OUTAGE_S:-30}

pport=$(free_port)
start_prom_rw "$pport" "$WORK/tsdb"
urls="http://127.0.0.1:$pport/api/v1/write"
receivers="http://127.0.0.1:$pport"
if command -v victoria-metrics >/dev/null 2>&1; then
  vport=$(free_port)
  start_vm "$vport" "$WORK/vm"
  urls="$urls, http://127.0.0.1:$vport/api/v1/write"
  receivers="$receivers http://127.0.0.1:$vport"
fi
for a in a b; do
  cat > "$WORK/$a.yaml" <<YAML
collectors:
  netdev: {}
exporters:
  remote_write:
    url: [$urls]
    interval: 1s
    timeout: 2s
    max_backoff: 1s
    external_labels: [agent=$a]
    spool_dir: $WORK/spool-$a
YAML
done
aport=$(free_port); bport=$(free_port)
start_agent --config "$WORK/a.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$aport"
A_PID=$AGENT_PID
start_agent --config "$WORK/b.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$bport"
B_PID=$AGENT_PID
wait_http "http://127.0.0.1:$aport/-/healthy" && wait_http "http://127.0.0.1:$bport/-/healthy" ||
  fail "agents did not come up: $(cat "$WORK/agent.log")"
Q='fabric_netdev_mtu_bytes{device="eth0"'
for r in $receivers; do
  for _ in $(seq 1 50); do
    [ "$(curl -fsS --get --data-urlencode "query=count($Q})" "$r/api/v1/query" | jq -r '.data.result[0].value[1] // 0')" = 2 ] && break
    sleep 0.2
  done
done

t_stop=$(date +%s.%N)
stop_pid "$PROM_PID"
[ -n "${VM_PID:-}" ] && stop_pid "$VM_PID"
ok "receivers stopped for ${OUTAGE}s"
sleep $(( OUTAGE / 2 ))
stop_pid "$B_PID"
t_b_down=$(date +%s.%N)
spooled=$(ls "$WORK"/spool-b/*/seg-*.rws 2>/dev/null | wc -l)
[ "$spooled" -gt 0 ] || fail "agent b left no spool segments"
start_agent --config "$WORK/b.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$bport"
B_PID=$AGENT_PID
ok "agent b restarted during the outage ($spooled spool segment(s) on disk)"
sleep $(( OUTAGE - OUTAGE / 2 ))
t_start=$(date +%s.%N)
start_prom_rw "$pport" "$WORK/tsdb"
[ -n "${VM_PID:-}" ] && start_vm "$vport" "$WORK/vm"
ok "receivers started again on the same data directories"

# Until both agents' spools are empty for every URL.
drained=""
for _ in $(seq 1 100); do
  left=$(for p in $aport $bport; do curl -fsS "http://127.0.0.1:$p/metrics"; done |
    awk '/^accelmon_remote_write_spool_bytes/ { s += $2 } END { print s + 0 }')
  [ "$left" = 0 ] && { drained=1; break; }
  sleep 0.2
done
[ -n "$drained" ] || fail "spools not drained: $left bytes left; $(tail -5 "$WORK/agent.log")"
grep -q "spooled requests to replay" "$WORK/agent.log" || fail "agent b did not replay its spool: $(cat "$WORK/agent.log")"
sleep 2
t_end=$(date +%s)
win=$(( t_end - ${t_stop%.*} + 5 ))
want=$(awk -v a="$t_stop" -v b="$t_start" 'BEGIN { printf "%d", b - a }')
for r in $receivers; do
  for a in a b; do
    curl -fsS --get --data-urlencode "query={agent=\"$a\"}[${win}s]" \
      --data-urlencode "time=$t_end" "$r/api/v1/query" > "$WORK/raw.json"
    nser=$(jq '.data.result | length' "$WORK/raw.json")
    [ "$nser" -gt 40 ] || fail "$r: only $nser series of agent $a"
    # per series: samples inside the outage window, longest gap, gaps > 1.5 s
    jq -r '.data.result[] | [(.metric | tostring), (.values | map(.[0]) | join(" "))] | join("\t")' \
      "$WORK/raw.json" |
      awk -F '\t' -v a="$t_stop" -v b="$t_start" -v want="$want" -v agent="$a" '
        { n = split($2, t, " "); c = 0; big = 0; maxg = 0
          for (i = 1; i <= n; i++) {
            if (t[i] >= a && t[i] <= b) c++
            if (i > 1 && t[i] > a - 1 && t[i - 1] < b + 1) { g = t[i] - t[i - 1]
              if (g > maxg) maxg = g; if (g > 1.5) big++ } }
          # b was down for its restart: one longer gap, one or two intervals fewer
          lo = agent == "b" ? want - 3 : want - 1
          if (c < lo || c > want + 1 || big > (agent == "b")) {
            printf "%s: %d samples in the %ds outage, %d gaps > 1.5s (longest %.2fs)\n", $1, c, want, big, maxg; bad++ }
          tot += c; ns++ }
        END { if (bad) exit 1; printf "%d series, %.1f samples each in the %d s outage\n", ns, tot / ns, want > "/dev/stderr" }' \
      2>"$WORK/summary" > "$WORK/bad" || fail "$r agent $a: $(head -5 "$WORK/bad")"
    ok "$r agent $a: $(cat "$WORK/summary")"
  done
done
echo "remote_write_outage: all checks passed"
