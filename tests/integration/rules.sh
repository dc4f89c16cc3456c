#!/bin/bash
# The Prometheus rules in dashboards/ are valid and pass their promtool unit
# tests (every alert fires in one); the Grafana boards are what mkdash.py
# makes, keep to their contract (uids, datasource and cluster/node/model
# variables), and every PromQL expression of them parses; every metric name
# a panel or rule uses is in the agent's output: the golden expositions of
# every collector plus the agent's own families (accelmon --once), so a
# renamed metric fails here, not on a dashboard.
. "$(dirname "$0")/lib.sh"
need promtool
need python3
python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml is not installed"
d="$ABS_SRCDIR/dashboards"
promtool check rules "$d/accelmon.rules.yml" || fail "promtool check rules"
(cd "$d" && promtool test rules accelmon.rules.test.yml) || fail "promtool test rules"
python3 "$d/mkdash.py" --check || fail "dashboards/*.json are not what mkdash.py makes"

# The names the agent exports: every golden file, and the agent's own
# families from a sim + netdev run.
printf 'collectors:\n  sim: {devices: 2}\n' > "$WORK/a.yaml"
"$ACCELMON" --once --config "$WORK/a.yaml" --sysfs "$FIXTURES/netdev/sys" > "$WORK/once.prom" 2>"$WORK/once.err" ||
  fail "accelmon --once: $(cat "$WORK/once.err")"
grep -q '^accelmon_collector_up' "$WORK/once.prom" || fail "no accelmon_* families in accelmon --once"
cat "$ABS_SRCDIR"/tests/golden/*.prom "$WORK/once.prom" | grep -v '^#' | sed 's/[{ ].*//' |
  grep -v '^$' | sort -u > "$WORK/names"
# Renames in flight (OLD NEW, one a line): NEW counts as exported while only
# OLD is. An entry whose NEW the agent exports is stale and fails.
RENAMED="
fabric_counter_saturated fabric_port_stat_saturated
"
while read -r old new; do
  [ -n "$old" ] || continue
  grep -qx "$new" "$WORK/names" && fail "RENAMED entry '$old $new' is stale (the agent exports $new): remove it"
  grep -qx "$old" "$WORK/names" && echo "$new" >> "$WORK/names"
done <<< "$RENAMED"
python3 "$ABS_SRCDIR/tests/integration/dashcheck.py" "$d" "$WORK/names" "$WORK/dash.rules.yml" ||
  fail "dashboards check"
promtool check rules "$WORK/dash.rules.yml" > "$WORK/dash.check" 2>&1 ||
  fail "a dashboard query does not parse: $(cat "$WORK/dash.check")"
ok "rules, rule unit tests and $(grep -c 'record:' "$WORK/dash.rules.yml") dashboard queries over $(wc -l < "$WORK/names") exported names"
