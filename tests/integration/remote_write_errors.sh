#!/bin/bash
# Remote write error paths against a scripted receiver (tests/rw_recv):
# 500, 503 with Retry-After, 429, a slow answer past the timeout and a
# connection reset are retried with the same samples; 400 and 409 are
# dropped (counted by status), never retried; the headers and labels of
# every request are checked by the receiver; an interface that disappears
# gets stale markers and is not sent again; samples that waited longer than
# max_sample_age are dropped, not sent.
. "$(dirname "$0")/lib.sh"
need curl
RECV="$ABS_BUILDDIR/tests/rw_recv"
[ -x "$RECV" ] || fail "$RECV not built"

rport=$(free_port); aport=$(free_port)
cp -a "$FIXTURES/netdev/sys" "$WORK/sys"
"$RECV" "$rport" "$WORK/req.log" --watch ib0 500 503:ra=2 429 400 409 slow=3 reset \
  >"$WORK/recv.out" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null && break; sleep 0.1; done
# A second receiver fails for longer than max_sample_age (40 answers 503).
r2port=$(free_port); a2port=$(free_port)
"$RECV" "$r2port" "$WORK/req2.log" $(for _ in $(seq 1 40); do printf '503 '; done) \
  >"$WORK/recv2.out" 2>&1 &
PIDS="$PIDS $!"
cat > "$WORK/a.yaml" <<YAML
collectors:
  netdev: {rescan: 1s}
exporters:
  remote_write:
    url: http://127.0.0.1:$rport/api/v1/write
    interval: 1s
    timeout: 1s
    min_backoff: 50ms
    max_backoff: 200ms
    external_labels: [cluster=err]
YAML
cat > "$WORK/old.yaml" <<YAML
collectors:
  netdev: {}
exporters:
  remote_write:
    url: http://127.0.0.1:$r2port/api/v1/write
    interval: 500ms
    min_backoff: 50ms
    max_backoff: 100ms
    max_sample_age: 1s
    external_labels: [$(for i in $(seq 10 37); do printf 'l%d=v,' "$i"; done | sed 's/,$//')]
YAML
"$ACCELMON" --config "$WORK/old.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$a2port" \
  >"$WORK/agent2.out" 2>"$WORK/agent2.log" &
PIDS="$PIDS $!"
start_agent --config "$WORK/a.yaml" --sysfs "$WORK/sys" --listen "127.0.0.1:$aport"
wait_http "http://127.0.0.1:$aport/-/healthy" || fail "agent did not come up: $(cat "$WORK/agent.log")"

# Wait for the script (8 answers) and two more pushes.
for _ in $(seq 1 150); do [ "$(wc -l < "$WORK/req.log")" -ge 10 ] && break; sleep 0.1; done
[ "$(wc -l < "$WORK/req.log")" -ge 10 ] || fail "only $(wc -l < "$WORK/req.log") requests: $(cat "$WORK/req.log"; tail "$WORK/agent.log")"
f() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$WORK/req.log"; }
bad=$(awk '$10 != "ok"' "$WORK/req.log")
[ -z "$bad" ] || fail "the receiver found problems: $bad"
ok "headers, sorted labels with __name__, no empty values, <= 30 labels in every request"
t0=$(f 0 6)
for i in 1 2 3; do [ "$(f $i 6)" = "$t0" ] || fail "request $i is not a retry of request 0: $(cat "$WORK/req.log")"; done
ok "500, 503 and 429 are retried with the same samples"
gap=$(( $(f 2 2) - $(f 1 2) ))
[ "$gap" -ge 1950 ] || fail "retry after 503 with Retry-After: 2 came after $gap ms"
[ $(( $(f 1 2) - $(f 0 2) )) -lt 1000 ] || fail "first retry waited too long"
ok "Retry-After: 2 honoured ($gap ms), backoff otherwise short"
[ "$(f 4 6)" -gt "$t0" ] || fail "400 was retried: $(cat "$WORK/req.log")"
[ "$(f 5 6)" -gt "$(f 4 6)" ] || fail "409 was retried: $(cat "$WORK/req.log")"
ok "400 and 409 are dropped, not retried"
[ "$(f 6 6)" = "$(f 5 6)" ] && [ "$(f 7 6)" = "$(f 5 6)" ] ||
  fail "slow answer or reset not retried: $(cat "$WORK/req.log")"
ok "an answer slower than the timeout and a connection reset are retried"
awk '$3 == 204 { if (last && $6 <= last) { print "not in order: " $0; exit 1 } last = $6 }' \
  "$WORK/req.log" || fail "accepted pushes not in time order"
ok "accepted pushes are in time order"

u="url=\"http://127.0.0.1:$rport/api/v1/write\""
val() { echo "$m" | awk -v k="$1" 'index($0, k " ") == 1 { print $2 }'; }
# The counters are read when a snapshot is rendered: wait for one that has
# the last retry.
for _ in $(seq 1 30); do
  m=$(curl -fsS "http://127.0.0.1:$aport/metrics")
  [ "$(val "accelmon_remote_write_retries_total{$u}")" = 5 ] && break
  sleep 0.2
done
[ "$(val "accelmon_remote_write_samples_dropped_total{$u,reason=\"http_400\"}")" = "$(f 3 5)" ] ||
  fail "http_400 drops: $(echo "$m" | grep dropped)"
[ "$(val "accelmon_remote_write_samples_dropped_total{$u,reason=\"http_409\"}")" = "$(f 4 5)" ] ||
  fail "http_409 drops: $(echo "$m" | grep dropped)"
[ "$(val "accelmon_remote_write_retries_total{$u}")" = 5 ] || fail "retries: $(echo "$m" | grep retries)"
want_failed=$(( $(f 0 5) + $(f 1 5) + $(f 2 5) + $(f 5 5) + $(f 6 5) ))
fv() { val "accelmon_remote_write_samples_failed_total{$u,reason=\"$1\"}"; }
[ "$(fv http_5xx)" = $(( $(f 0 5) + $(f 1 5) )) ] && [ "$(fv http_429)" = "$(f 2 5)" ] &&
  [ "$(fv no_answer)" = $(( $(f 5 5) + $(f 6 5) )) ] && [ "$(fv credential_unreadable)" = 0 ] ||
  fail "failed samples by reason: $(echo "$m" | grep failed), want 500+503, 429, slow+reset"
# The request durations: one per request, the slow one (timeout 1s) among
# the longer ones.
h=accelmon_remote_write_request_duration_seconds
n=$(wc -l < "$WORK/req.log")
cnt=$(val "${h}_count{$u}"); inf=$(val "${h}_bucket{$u,le=\"+Inf\"}")
fast=$(val "${h}_bucket{$u,le=\"0.5\"}"); sum=$(val "${h}_sum{$u}")
[ "$cnt" = "$inf" ] && [ "$cnt" -ge 8 ] && [ "$cnt" -le "$n" ] && [ "$fast" -lt "$cnt" ] &&
  awk -v s="$sum" 'BEGIN { exit !(s >= 0.9) }' ||
  fail "duration histogram: count $cnt, +Inf $inf, <=0.5s $fast, sum $sum ($n requests seen)"
ok "self metrics: drops by status ($(f 3 5) at 400, $(f 4 5) at 409), 5 retries, $want_failed failed samples by reason (5xx, 429, no answer); $cnt request durations, sum ${sum}s"

# An interface disappears: stale markers, then it is not sent again.
[ "$(awk 'END { print $9 }' "$WORK/req.log")" -gt 0 ] || fail "no ib0 series pushed"
rm -r "$WORK/sys/class/net/ib0"
gone=""
for _ in $(seq 1 100); do
  # the first request with stale markers, then one without any ib0 series
  gone=$(awk '$8 > 0 && !s { s = $1 } s && $9 == 0 { print $1; exit }' "$WORK/req.log")
  [ -n "$gone" ] && break
  sleep 0.1
done
[ -n "$gone" ] || fail "ib0 still sent or no stale markers: $(tail -5 "$WORK/req.log")"
sleep 2
awk '$8 > 0 && !s { s = $1; n = prev } { prev = $9 }
  s { stale += $8; if ($1 >= '"$gone"' && $9 > 0) again++ }
  END { printf "%d %d %d\n", n, stale, again }' "$WORK/req.log" > "$WORK/st"
read -r n_ib stale again < "$WORK/st"
[ "$again" = 0 ] || fail "ib0 sent again after its stale markers: $(tail -5 "$WORK/req.log")"
[ "$stale" = "$n_ib" ] || fail "$stale stale markers for $n_ib ib0 series: $(tail -8 "$WORK/req.log")"
ok "ib0 gone: one stale marker for each of its $n_ib series, then not sent"
# max_sample_age: what waited longer than 1 s was dropped, not sent late.
first=$(awk '$3 == 204 { print; exit }' "$WORK/req2.log")
[ -n "$first" ] || fail "receiver 2 never accepted a push: $(tail -3 "$WORK/req2.log")"
age=$(echo "$first" | awk '{ print $2 - $6 }')
[ "$age" -le 1200 ] || fail "a push $age ms old was sent after 503s (max_sample_age 1s)"
m2=$(curl -fsS "http://127.0.0.1:$a2port/metrics")
old=$(echo "$m2" | awk '/^accelmon_remote_write_samples_dropped_total.*reason="too_old"/ { print $2 }')
[ "${old:-0}" -gt 0 ] || fail "nothing counted as too_old: $(echo "$m2" | grep dropped)"
ok "max_sample_age 1s: $old queued samples dropped as too_old, the first accepted push was $age ms old"
# 28 external labels: series with more than one label of their own would
# have more than 30 and are not sent (counted); the others are.
lab=$(echo "$m2" | awk '/^accelmon_remote_write_samples_dropped_total.*reason="labels"/ { print $2 }')
[ "${lab:-0}" -gt 0 ] || fail "nothing counted as reason=labels: $(echo "$m2" | grep dropped)"
bad=$(awk '$10 != "ok"' "$WORK/req2.log")
[ -z "$bad" ] || fail "receiver 2 found problems: $bad"
n30=$(awk '$3 == 204 { print $4; exit }' "$WORK/req2.log")
[ "${n30:-0}" -gt 0 ] || fail "no series with 30 labels sent"
ok "more than 30 labels: $lab samples not sent (reason=labels), $n30 series with 30 labels sent"
echo "remote_write_errors: all checks passed"
