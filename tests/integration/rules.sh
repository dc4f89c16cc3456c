#!/bin/bash
# The Prometheus rules in dashboards/ are valid and pass their promtool unit
# tests (every alert fires in one); the Grafana boards are what mkdash.py
# makes, keep to their contract (uids, datasource and cluster/node/model
# variables), and every PromQL expression of them parses; every metric name
# a panel or rule uses is in `accelmon --once --simulate 8` and in the real
# collectors' golden expositions, so a renamed metric fails here, not on a
# dashboard.
. "$(dirname "$0")/lib.sh"
need promtool
need python3
python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml is not installed"
d="$ABS_SRCDIR/dashboards"
promtool check rules "$d/accelmon.rules.yml" || fail "promtool check rules"
(cd "$d" && promtool test rules accelmon.rules.test.yml) || fail "promtool test rules"
python3 "$d/mkdash.py" --check || fail "dashboards/*.json are not what mkdash.py makes"

# The names the agent exports. 1: `accelmon --once --simulate 8` (with the
# netdev fixture for the Ethernet families) holds every name the boards and
# rules use. 2: so do the real collectors: the golden expositions of every
# fixture, plus the agent's own accelmon_* and process_* families.
"$ACCELMON" --once --simulate 8 --sysfs "$FIXTURES/netdev/sys" > "$WORK/sim8.prom" 2>"$WORK/sim8.err" ||
  fail "accelmon --once --simulate 8: $(cat "$WORK/sim8.err")"
grep -q '^accelmon_collector_up' "$WORK/sim8.prom" || fail "no accelmon_* families in accelmon --once"
names() { grep -hv '^#' "$@" | sed 's/[{ ].*//' | grep -v '^$' | sort -u; }
names "$WORK/sim8.prom" > "$WORK/names"
# The pcap collector's families (issue 15) are in no simulation: the real
# collector replaying a generated capture adds them to both lists.
: > "$WORK/names.pcap"
if [ -x "$ABS_BUILDDIR/tests/pcap_gen" ]; then
  "$ABS_BUILDDIR/tests/pcap_gen" "$WORK/peers.pcap" 2000 20 || fail "pcap_gen"
  printf 'collectors:\n  pcap: {file: "%s", local_addresses: [10.0.0.1, "fd00::1"], node: n1}\n' \
    "$WORK/peers.pcap" > "$WORK/pcap.yaml"
  "$ACCELMON" --once --config "$WORK/pcap.yaml" --sysfs "$FIXTURES/netdev/sys" > "$WORK/pcap.prom" \
    2>"$WORK/pcap.err" || fail "accelmon --once with a pcap replay: $(cat "$WORK/pcap.err")"
  names "$WORK/pcap.prom" | grep -E '^fabric_(peer|pcap)_' > "$WORK/names.pcap"
else
  # built without libpcap: the names its sources define (schema and
  # collector), so the boards still check against what a pcap build exports
  grep -ohE '"fabric_(peer|pcap)_[a-z_]+"' "$ABS_SRCDIR/agent/schema.c" \
    "$ABS_SRCDIR/collectors/pcap.c" | tr -d '"' | sort -u > "$WORK/names.pcap"
fi
cat "$WORK/names.pcap" >> "$WORK/names"
python3 "$ABS_SRCDIR/tests/integration/dashcheck.py" "$d" "$WORK/names" "$WORK/dash.rules.yml" ||
  fail "dashboards check against accelmon --once --simulate 8"
{ names "$ABS_SRCDIR"/tests/golden/*.prom; names "$WORK/sim8.prom" | grep -E '^(accelmon|process)_'
  cat "$WORK/names.pcap"; } |
  sort -u > "$WORK/names.real"
python3 "$ABS_SRCDIR/tests/integration/dashcheck.py" "$d" "$WORK/names.real" "$WORK/dash.rules.yml" ||
  fail "dashboards check against the real collectors' golden expositions"
promtool check rules "$WORK/dash.rules.yml" > "$WORK/dash.check" 2>&1 ||
  fail "a dashboard query does not parse: $(cat "$WORK/dash.check")"
ok "rules, rule unit tests and $(grep -c 'record:' "$WORK/dash.rules.yml") dashboard queries; names: $(wc -l < "$WORK/names") from --simulate 8, $(wc -l < "$WORK/names.real") from the real collectors"
