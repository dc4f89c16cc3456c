#!/bin/bash
# Remote write endpoints with settings of their own (`endpoints:`, keys
# overriding the section's) beside a `url` that takes the section's, one
# agent, three tests/rw_recv receivers:
# - url: the section's interval (1s) and external_labels (cluster=c);
# - endpoints[0]: interval 250ms, a bearer token, external_labels as a map
#   (via: a, replacing the section's);
# - endpoints[1]: basic_auth {username, password_file}, headers as a map
#   (X-Scope-OrgID), max_samples_per_request 10, external_labels [via=b].
# Each receiver checks its own credentials and headers; the label, the
# request size and the push rate of each show its settings were used.
. "$(dirname "$0")/lib.sh"
need curl
RECV="$ABS_BUILDDIR/tests/rw_recv"
[ -x "$RECV" ] || fail "$RECV not built"

p0=$(free_port); p1=$(free_port); p2=$(free_port); aport=$(free_port)
"$RECV" "$p0" "$WORK/r0.log" --watch cluster=c >"$WORK/r0.out" 2>&1 &
PIDS="$PIDS $!"
"$RECV" "$p1" "$WORK/r1.log" --watch via=a --auth "Bearer tok-a" >"$WORK/r1.out" 2>&1 &
PIDS="$PIDS $!"
"$RECV" "$p2" "$WORK/r2.log" --watch via=b --auth "Basic $(printf 'u:pw-b' | base64)" \
  --header "X-Scope-OrgID: t2" >"$WORK/r2.out" 2>&1 &
PIDS="$PIDS $!"
printf 'tok-a\n' > "$WORK/token"
printf 'pw-b\n' > "$WORK/pw"
cat > "$WORK/a.yaml" <<YAML
collectors:
  netdev: {}
exporters:
  remote_write:
    interval: 1s
    external_labels: [cluster=c]
    url: http://127.0.0.1:$p0/api/v1/write
    endpoints:
      - url: http://127.0.0.1:$p1/api/v1/write
        interval: 250ms
        bearer_token_file: $WORK/token
        external_labels: {via: a}
      - url: http://127.0.0.1:$p2/api/v1/write
        basic_auth: {username: u, password_file: $WORK/pw}
        headers: {X-Scope-OrgID: t2}
        max_samples_per_request: 10
        external_labels: [via=b]
YAML
for p in $p0 $p1 $p2; do
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
done
start_agent --config "$WORK/a.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$aport"
wait_http "http://127.0.0.1:$aport/-/healthy" || fail "agent did not come up: $(cat "$WORK/agent.log")"
for _ in $(seq 1 100); do
  [ "$(wc -l < "$WORK/r0.log")" -ge 3 ] && [ -s "$WORK/r2.log" ] && break
  sleep 0.1
done
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
for r in r0 r1 r2; do
  bad=$(awk '$10 != "ok"' "$WORK/$r.log")
  [ -z "$bad" ] || fail "$r found problems (credentials, headers, labels): $bad"
  [ -s "$WORK/$r.log" ] || fail "$r got nothing: $(cat "$WORK/agent.log")"
done
ok "each receiver got its own credentials and headers (bearer token; basic auth + X-Scope-OrgID from a map)"
watched() { awk '{ s += $9 } END { print s + 0 }' "$WORK/$1.log"; }
samples() { awk '{ s += $5 } END { print s + 0 }' "$WORK/$1.log"; }
for r in r0 r1 r2; do
  [ "$(watched $r)" -gt 0 ] && [ "$(watched $r)" = "$(samples $r)" ] ||
    fail "$r: $(watched $r) of $(samples $r) samples carry its external label"
done
ok "external labels per endpoint: cluster=c (the section's), via=a (a map), via=b (a list) on every sample"
big=$(awk '$4 > 10' "$WORK/r2.log" | wc -l)
[ "$big" = 0 ] || fail "endpoints[1] sent requests of more than 10 series: $(head -3 "$WORK/r2.log")"
[ "$(awk '$4 > 10' "$WORK/r0.log" | wc -l)" -gt 0 ] || fail "the section's requests are not larger: $(head -3 "$WORK/r0.log")"
ok "max_samples_per_request 10 on endpoints[1] only ($(wc -l < "$WORK/r2.log") requests of <= 10 series)"
# Pushes per second, from the samples' own timestamps.
rate() { awk '{ t[$6] = 1 } END { n = 0; for (k in t) { n++; if (!lo || k < lo) lo = k; if (k > hi) hi = k }
  printf "%.1f", (n - 1) / ((hi - lo) / 1000) }' "$WORK/$1.log"; }
r0=$(rate r0); r1=$(rate r1)
awk -v a="$r1" -v b="$r0" 'BEGIN { exit !(a >= 3 && a <= 5 && b >= 0.8 && b <= 1.2) }' ||
  fail "push rates: endpoints[0] $r1/s (want 4), url $r0/s (want 1)"
ok "interval per endpoint: $r1 pushes/s at 250ms, $r0 pushes/s at the section's 1s"
echo "remote_write_endpoints: all checks passed"
