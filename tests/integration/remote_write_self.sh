#!/bin/bash
# Remote write with self_metrics: true pushes the agent's own series
# (accelmon_*, process_*) beside the collectors' ones: as many as /metrics
# has, accelmon_build_info and accelmon_collector_up among them, with the
# external labels and valid label sets (checked by tests/rw_recv). A reload
# that removes a collector sends stale markers for its
# accelmon_collector_*{collector="sim"} series, then no more. Without the option
# none of them is pushed.
. "$(dirname "$0")/lib.sh"
need curl
RECV="$ABS_BUILDDIR/tests/rw_recv"
[ -x "$RECV" ] || fail "$RECV not built"

p1=$(free_port); p2=$(free_port); aport=$(free_port)
"$RECV" "$p1" "$WORK/r1.log" --watch collector=sim >"$WORK/r1.out" 2>&1 &
PIDS="$PIDS $!"
"$RECV" "$p2" "$WORK/r2.log" --watch __name__=accelmon_build_info >"$WORK/r2.out" 2>&1 &
PIDS="$PIDS $!"
conf() { # COLLECTORS
  cat <<YAML
collectors:
$1
exporters:
  remote_write:
    interval: 300ms
    external_labels: [node=n1]
    endpoints:
      - url: http://127.0.0.1:$p1/api/v1/write
        self_metrics: true
      - url: http://127.0.0.1:$p2/api/v1/write
YAML
}
conf "  netdev: {}
  sim: {devices: 1}" > "$WORK/a.yaml"
for p in $p1 $p2; do
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
done
start_agent --config "$WORK/a.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$aport"
wait_http "http://127.0.0.1:$aport/-/healthy" || fail "agent did not come up: $(cat "$WORK/agent.log")"
last() { awk 'END { print $'"$2"' }' "$WORK/$1.log"; }
# Until the series are all there (counters and rates after two polls): the
# same count in the last pushes and on /metrics.
for _ in $(seq 1 100); do
  m=$(curl -fsS "http://127.0.0.1:$aport/metrics")
  all=$(echo "$m" | grep -vc '^#')
  own=$(echo "$m" | grep -v '^#' | grep -c '^accelmon_\|^process_')
  [ "$(wc -l < "$WORK/r1.log")" -ge 8 ] &&
    [ "$(tail -3 "$WORK/r1.log" | awk -v n="$all" '$5 == n' | wc -l)" = 3 ] &&
    [ "$(last r1 9)" -gt 0 ] && break
  sleep 0.1
done
[ "$(last r1 5)" = "$all" ] || fail "self_metrics: $(last r1 5) samples pushed, /metrics has $all series"
[ "$(last r2 5)" = $((all - own)) ] || fail "without self_metrics: $(last r2 5) samples pushed, want $((all - own))"
[ "$(awk '$9 > 0' "$WORK/r2.log" | wc -l)" = 0 ] || fail "accelmon_build_info pushed without self_metrics"
bad=$(cat "$WORK/r1.log" "$WORK/r2.log" | awk '$10 != "ok"')
[ -z "$bad" ] || fail "the receiver found problems: $bad"
ok "self_metrics: $all samples a push ($own of the agent's own), $((all - own)) without it; labels valid"

# A reload without sim: one stale marker per series gone.
before=$(last r1 5); n0=$(wc -l < "$WORK/r1.log")
conf "  netdev: {}" > "$WORK/a.yaml"
kill -HUP "$AGENT_PID"
# Until the stale markers are over: three pushes alike without any.
for _ in $(seq 1 100); do
  read -r stale nst final quiet < <(awk -v n="$n0" 'NR > n { s += $8; if ($8) k++; q = ($8 == 0 && $5 == last) ? q + 1 : 0; last = $5 }
    END { print s + 0, k + 0, last + 0, q + 0 }' "$WORK/r1.log")
  [ "$nst" -gt 0 ] && [ "$quiet" -ge 3 ] && break
  sleep 0.1
done
[ "$nst" -gt 0 ] || fail "no stale markers after the reload: $(tail -3 "$WORK/r1.log"; tail -3 "$WORK/agent.log")"
# sim's 5 accelmon_collector_*{collector="sim"} series at least (netdev's,
# restarted by the reload, may go and come back after its first poll).
[ "$stale" -ge 5 ] ||
  fail "$before series before, $final after and $stale stale markers: $(awk -v n="$n0" 'NR > n' "$WORK/r1.log" | head)"
[ "$(last r1 9)" = 0 ] || fail "series of sim still pushed: $(tail -1 "$WORK/r1.log")"
m=$(curl -fsS "http://127.0.0.1:$aport/metrics")
echo "$m" | grep -q 'collector="sim"' && fail "sim still on /metrics"
ok "reload without sim: $stale stale markers in $nst pushes ($before series before, $final after), none with collector=sim left"
echo "remote_write_self: all checks passed"
