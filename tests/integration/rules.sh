#!/bin/bash
# The Prometheus rules in dashboards/ are valid and pass their promtool unit
# tests; every PromQL expression of the Grafana dashboard parses.
. "$(dirname "$0")/lib.sh"
need promtool
d="$ABS_SRCDIR/dashboards"
promtool check rules "$d/accelmon.rules.yml" || fail "promtool check rules"
(cd "$d" && promtool test rules accelmon.rules.test.yml) || fail "promtool test rules"
# Dashboard queries: wrap each in a recording rule and let promtool parse it.
n=0
{ echo "groups:"; echo "  - name: dashboard"; echo "    rules:"
  grep -o '"expr": "[^"]*\(\\"[^"]*\)*"' "$d/accelmon-cluster.json" |
    sed 's/^"expr": "//; s/"$//; s/\\"/"/g; s/\$instance/.*/g' |
    while IFS= read -r e; do n=$((n + 1)); printf '      - record: dashboard:q%d\n        expr: %s\n' "$n" "'${e//\'/\'\'}'"; done
} > "$WORK/dash.rules.yml"
promtool check rules "$WORK/dash.rules.yml" || fail "a dashboard query does not parse: $(cat "$WORK/dash.rules.yml")"
ok "rules, rule unit tests and $(grep -c record: "$WORK/dash.rules.yml") dashboard queries"
