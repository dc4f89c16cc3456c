#!/bin/bash
# End to end: a real Prometheus (Debian package) with dashboards/' rules
# loaded scrapes the agent running the sim collector and sends its alerts to
# a real Alertmanager (prometheus-alertmanager). Two simulated failures must
# reach the Alertmanager's API as firing alerts and leave it when they end:
# a device that fails and comes back (AcceleratorDown, agent A) and a
# collector that hangs (AccelmonCollectorDown, agent B).
# Every rule must evaluate without error against the live agent. The test's
# own copy of the rules has `for:` cut to 2s (Prometheus evaluates every 1s).
. "$(dirname "$0")/lib.sh"
need curl
need prometheus
need prometheus-alertmanager
need python3
long_test

aport=$(free_port); bport=$(free_port); pport=$(free_port); mport=$(free_port)
# A: the demo mix; sim3 (failing) is up 3 s, down 8 s, up 3 s, ...
cat > "$WORK/a.yaml" <<YAML
collectors:
  netdev: {enabled: false}
  sim: {devices: 4, demo: true, interval: 250ms, fail_after: 3s, fail_for: 8s}
YAML
# B: the collector hangs in its 6th poll for 25 s (watchdog: down; longer
# than the checks of A take), then
# polls again (up).
cat > "$WORK/b.yaml" <<YAML
collectors:
  netdev: {enabled: false}
  sim: {devices: 2, interval: 500ms, timeout: 500ms, hang_after_polls: 5, hang_for: 25s}
YAML
sed -E 's/^( +for: ).*/\12s/' "$ABS_SRCDIR/dashboards/accelmon.rules.yml" > "$WORK/rules.yml"
grep -q 'for: 2s' "$WORK/rules.yml" || fail "no for: in the rules copy"
cat > "$WORK/am.yml" <<YAML
route: {receiver: test, group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
receivers: [{name: test}]
YAML
cat > "$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [$WORK/rules.yml]
alerting:
  alertmanagers: [{static_configs: [{targets: ["127.0.0.1:$mport"]}]}]
scrape_configs:
  - job_name: accelmon
    static_configs: [{targets: ["127.0.0.1:$aport", "127.0.0.1:$bport"], labels: {cluster: e2e}}]
YAML

t0=$(date +%s)
prometheus-alertmanager --config.file="$WORK/am.yml" --storage.path="$WORK/am" \
  --web.listen-address="127.0.0.1:$mport" --cluster.listen-address= >"$WORK/am.log" 2>&1 &
PIDS="$PIDS $!"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$WORK/prom.log" 2>&1 &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$mport/-/ready" 30 || fail "alertmanager not ready: $(tail -5 "$WORK/am.log")"
wait_http "http://127.0.0.1:$pport/-/ready" 30 || fail "prometheus not ready: $(tail -5 "$WORK/prom.log")"
start_agent --config "$WORK/a.yaml" --listen "127.0.0.1:$aport"
"$ACCELMON" --config "$WORK/b.yaml" --listen "127.0.0.1:$bport" 2> "$WORK/b.log" &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$aport/-/healthy" || fail "agent A did not come up"
wait_http "http://127.0.0.1:$bport/-/healthy" || fail "agent B did not come up"
api="http://127.0.0.1:$pport/api/v1"
amapi="http://127.0.0.1:$mport/api/v2"

# am_alerts NAME: "LABELS|state" of each alert of that name the Alertmanager
# holds (its API leaves out resolved ones).
am_alerts() {
  curl -fsS --get --data-urlencode "filter=alertname=\"$1\"" "$amapi/alerts" |
    python3 -c 'import json,sys
for a in json.load(sys.stdin):
    l = a["labels"]
    print(",".join("%s=%s" % kv for kv in sorted(l.items())) + "|" + a["status"]["state"])'
}
# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  while [ "$(date +%s)" -le "$deadline" ]; do "$@" && return 0; sleep 0.5; done
  return 1
}
firing() { am_alerts "$1" | grep "$2" | grep -q '|active$'; }
# resolved: the API answers, without that alert
gone() { local r; r=$(am_alerts "$1") || return 1; ! grep -q "$2" <<< "$r"; }

wait_for 30 firing AcceleratorDown 'device=sim3' ||
  fail "AcceleratorDown for sim3 never reached the Alertmanager: $(am_alerts AcceleratorDown); $(curl -fsS "$api/alerts")"
t1=$(date +%s)
# one answer of the API for both checks (the alert may resolve meanwhile)
all=$(am_alerts AcceleratorDown)
a=$(grep device=sim3 <<< "$all")
case $a in *cluster=e2e*instance=127.0.0.1:$aport*severity=critical*uuid=SIM-*) ;;
  *) fail "alert labels: $a" ;; esac
[ "$(grep -c . <<< "$all")" = 1 ] || fail "other devices down too: $all"
ok "Alertmanager: AcceleratorDown firing for the failing simulated device, $((t1 - t0)) s after start: $a"
wait_for 20 gone AcceleratorDown 'device=sim3' ||
  fail "AcceleratorDown did not resolve: $(am_alerts AcceleratorDown)"
t2=$(date +%s)
ok "Alertmanager: AcceleratorDown resolved $((t2 - t1)) s later (sim3 is back)"

wait_for 30 firing AccelmonCollectorDown "instance=127.0.0.1:$bport" ||
  fail "AccelmonCollectorDown for sim never reached the Alertmanager: $(am_alerts AccelmonCollectorDown); $(curl -fsS "$api/alerts")"
t1=$(date +%s)
a=$(am_alerts AccelmonCollectorDown | grep collector=sim)
case $a in *cluster=e2e*instance=127.0.0.1:$bport*severity=warning*) ;;
  *) fail "alert labels: $a" ;; esac
ok "Alertmanager: AccelmonCollectorDown firing, $((t1 - t0)) s after start: $a"

wait_for 40 gone AccelmonCollectorDown "instance=127.0.0.1:$bport" ||
  fail "AccelmonCollectorDown did not resolve: $(am_alerts AccelmonCollectorDown)"
t2=$(date +%s)
ok "Alertmanager: AccelmonCollectorDown resolved $((t2 - t1)) s later (the sim collector polls again)"

# Every rule of the real file evaluated against the live agent, no errors.
curl -fsS "$api/rules" | python3 -c 'import json,sys
g = json.load(sys.stdin)["data"]["groups"]
rules = [r for x in g for r in x["rules"]]
bad = [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
print("%d groups, %d rules, %d unhealthy" % (len(g), len(rules), len(bad)))
for b in bad: print("  %s: %s" % b)
sys.exit(1 if bad or not rules else 0)' > "$WORK/rules.health" || fail "rules: $(cat "$WORK/rules.health")"
ok "Prometheus rules: $(head -1 "$WORK/rules.health")"
echo "alerts: all checks passed in $(( $(date +%s) - t0 )) s"
