#!/bin/bash
# Fleet: FLEET_AGENTS (default 50) agents with --simulate 8 on loopback ports,
# one real Prometheus scraping them all with the recording rules of
# dashboards/ (the test's copy averages over 40s, not 5m: rate() divides by
# its whole window, and the test must end before the failing device fails,
# 60 s in). The cluster-level figures from its query API must equal the
# simulator's known truth: 8 accelerators per agent (half SIM-A80, half
# SIM-B40), 2 idle per agent drawing 80 + 50 W, and busy fractions of each
# scenario (training 0.95 x 2, throttle 0.9, failing 0.5 while up,
# inference 0.305 x 2: 0.9 for 6 s of every 20 s, else 0.05; idle 0): 3.91
# equivalent fully-busy accelerators per agent. Prints each agent's CPU and
# memory and the samples per second Prometheus ingests (figures, not
# pass/fail).
. "$(dirname "$0")/lib.sh"
need curl
need prometheus
need python3
long_test

N=${FLEET_AGENTS:-50}
pport=$(free_port)
targets=""
for i in $(seq 1 "$N"); do
  p=$(free_port)
  # one port each: ask again on a clash with an earlier agent
  while case " $targets " in *":$p\""*) true ;; *) false ;; esac; do p=$(free_port); done
  "$ACCELMON" --simulate 8 --listen "127.0.0.1:$p" > /dev/null 2> "$WORK/agent$i.log" &
  PIDS="$PIDS $!"
  targets="$targets${targets:+, }\"127.0.0.1:$p\""
done
cat > "$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 2s, evaluation_interval: 2s}
rule_files: [$WORK/rules.yml]
scrape_configs:
  - job_name: accelmon
    static_configs: [{targets: [$targets], labels: {cluster: fleet}}]
  - job_name: prometheus
    static_configs: [{targets: ["127.0.0.1:$pport"]}]
YAML
sed 's/\[5m\]/[40s]/g; s/\[1h\]/[40s]/g' "$ABS_SRCDIR/dashboards/accelmon.rules.yml" > "$WORK/rules.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$WORK/prom.log" 2>&1 &
PIDS="$PIDS $!"
api="http://127.0.0.1:$pport/api/v1"
wait_http "http://127.0.0.1:$pport/-/ready" 30 || fail "prometheus not ready: $(tail -5 "$WORK/prom.log")"

# q EXPR: the value of a one-sample result ("" when none).
q() {
  curl -fsS --get --data-urlencode "query=$1" "$api/query" | python3 -c 'import json,sys
d = json.load(sys.stdin)["data"]
r = d["result"]
if d["resultType"] == "scalar":
    print(r[1])
else:
    print(r[0]["value"][1] if len(r) == 1 else "")'
}
up=""
for _ in $(seq 1 60); do
  [ "$(q 'count(up{job="accelmon"} == 1)')" = "$N" ] && { up=1; break; }
  sleep 1
done
[ -n "$up" ] || fail "not all $N agents are up: $(q 'count(up{job="accelmon"} == 1)'); $(tail -3 "$WORK"/agent1.log)"
ok "$N agents up"

# (a sample is up to one poll old when scraped: figures from counters are
# within about 1% of the truth over 40 s)
# 44 s of data: the 40 s windows are full (two inference periods: its mean
# is exact whatever the phase), and every agent is within its first 60 s.
sleep 44
t=$(q 'time()')
age=$(q "max(time() - process_start_time_seconds{job=\"accelmon\"})")
awk -v a="$age" 'BEGIN{exit !(a < 59)}' || fail "agents are $age s old: past the failing device's 60 s"
truth=$(awk -v n="$N" 'BEGIN{print 3.91 * n}')
check_eq() { # check_eq WHAT EXPR WANT
  local v; v=$(q "$2")
  [ "$v" = "$3" ] || fail "$1: $2 = '$v', want $3"
  ok "$1: $2 = $v (truth $3)"
}
# Busy figures are rates over a 40 s window of 50 agents sharing two cores
# with Prometheus and the rest of the suite: a poll delayed there shortens
# the window's last step, so they are checked within 3%, not exactly.
check_near() { # check_near WHAT EXPR WANT TOLERANCE
  local v; v=$(q "$2")
  awk -v v="$v" -v w="$3" -v t="$4" 'BEGIN{d = v - w; if (d < 0) d = -d; exit !(v != "" && d <= t * w)}' ||
    fail "$1: $2 = '$v', want $3 within $4"
  ok "$1: $2 = $v (truth $3, within $(awk -v v="$v" -v w="$3" 'BEGIN{printf "%.2f%%", 100 * (v - w) / w}'))"
}
check_eq "accelerators" 'sum(cluster:accel:count{cluster="fleet"})' $((8 * N))
check_eq "SIM-A80 accelerators" 'sum(cluster_model:accel:count{cluster="fleet",model="SIM-A80"})' $((4 * N))
check_eq "SIM-B40 accelerators" 'sum(cluster_model:accel:count{cluster="fleet",model="SIM-B40"})' $((4 * N))
check_eq "vendors" 'count(count by (vendor) (cluster_model:accel:count{cluster="fleet"}))' 1
check_eq "idle but powered" 'sum(cluster:accel_idle:sum{cluster="fleet"})' $((2 * N))
check_near "power while idle (W)" 'sum(cluster:accel_idle_power_watts:sum_rate5m{cluster="fleet"})' $((130 * N)) 0.01
check_near "equivalent fully-busy accelerators" 'sum(cluster:accel_busy_equivalent:sum_rate5m{cluster="fleet"})' "$truth" 0.03
check_near "mean busy" 'sum(cluster:accel_busy_ratio:avg_rate5m{cluster="fleet"})' \
  "$(awk -v t="$truth" -v n="$N" 'BEGIN{print t / (8 * n)}')" 0.03
check_near "equivalent fully-busy SIM-A80s (training, throttle, idle_allocated, inference)" \
  'sum(cluster_model:accel_busy_equivalent:sum_rate5m{cluster="fleet",model="SIM-A80"})' \
  "$(awk -v n="$N" 'BEGIN{print (0.95 + 0.9 + 0 + 0.305) * n}')" 0.03
check_near "equivalent fully-busy SIM-B40s (inference, failing, training, idle)" \
  'sum(cluster_model:accel_busy_equivalent:sum_rate5m{cluster="fleet",model="SIM-B40"})' \
  "$(awk -v n="$N" 'BEGIN{print (0.305 + 0.5 + 0.95 + 0) * n}')" 0.03
# (a node's two inference devices share one phase: 40 s windows on 2 s
# scrapes leave it up to ~5% off on one node; across the fleet it averages)
check_near "busiest node (training on two, of eight)" \
  'max(cluster_instance:accel_busy_ratio:avg_rate5m{cluster="fleet"})' 0.48875 0.05
check_near "least-used node" 'min(cluster_instance:accel_busy_ratio:avg_rate5m{cluster="fleet"})' 0.48875 0.05

# Figures: each agent's CPU and memory, the ingest rate.
cpu=$(curl -fsS --get --data-urlencode 'query=rate(process_cpu_seconds_total{job="accelmon"}[30s])' "$api/query" |
  python3 -c 'import json,sys
v = sorted(float(x["value"][1]) for x in json.load(sys.stdin)["data"]["result"])
print("min %.4f, median %.4f, max %.4f cores over %d agents" % (v[0], v[len(v)//2], v[-1], len(v)))')
rss=$(curl -fsS --get --data-urlencode 'query=process_resident_memory_bytes{job="accelmon"}' "$api/query" |
  python3 -c 'import json,sys
v = sorted(float(x["value"][1]) / 1048576 for x in json.load(sys.stdin)["data"]["result"])
print("min %.1f, median %.1f, max %.1f MiB" % (v[0], v[len(v)//2], v[-1]))')
series=$(q 'sum(scrape_samples_scraped{job="accelmon"})')
ingest=$(q 'sum(rate(prometheus_tsdb_head_samples_appended_total[20s]))')
echo "fleet: $N agents x 8 simulated accelerators and 8 ports, scraped every 2 s"
echo "fleet: agent CPU $cpu"
echo "fleet: agent resident memory $rss"
echo "fleet: $series samples per scrape round ($(awk -v s="$series" -v n="$N" 'BEGIN{printf "%.0f", s / n}') per agent); Prometheus ingests $(awk -v r="$ingest" 'BEGIN{printf "%.0f", r}') samples/s (rules included)"
pcpu=$(q 'rate(process_cpu_seconds_total{job="prometheus"}[20s])')
prss=$(q 'process_resident_memory_bytes{job="prometheus"}')
heads=$(q 'prometheus_tsdb_head_series')
echo "fleet: Prometheus $(awk -v c="$pcpu" -v r="$prss" -v h="$heads" 'BEGIN{printf "%.3f cores, %.0f MiB resident, %d head series", c, r / 1048576, h}')"
echo "fleet: all checks passed at t=$t"
