#!/bin/bash
# Remote write over https and with credentials, against tests/rw_recv:
# - https with ca_file and a bearer token read from a file; a rotated token
#   file is read again for the next request (the receiver then answers 401,
#   counted as reason="http_401"); a token file that is missing for a while
#   holds the pushes back (never sent without it) until it is there again;
# - basic auth (basic_auth_username + basic_auth_password_file) over http,
#   with an extra header (headers: X-Scope-OrgID, a Mimir tenant);
# - a server certificate the agent cannot verify: nothing is accepted, the
#   pushes are retried (failed samples counted); with insecure_skip_verify
#   they go through.
. "$(dirname "$0")/lib.sh"
need curl
need openssl
RECV="$ABS_BUILDDIR/tests/rw_recv"
[ -x "$RECV" ] || fail "$RECV not built"

cd "$WORK" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
  -subj /CN=accelmon-test-ca 2>/dev/null || fail "openssl: CA"
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 \
  2>/dev/null || fail "openssl: CSR"
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt \
  -days 2 -extfile san.ext 2>/dev/null || fail "openssl: server certificate"

p1=$(free_port); p2=$(free_port); p3=$(free_port)
"$RECV" "$p1" req1.log --tls srv.crt srv.key --auth "Bearer tok-1" >recv1.out 2>&1 &
PIDS="$PIDS $!"
"$RECV" "$p2" req2.log --auth "Basic $(printf 'node:s3cret' | base64)" \
  --header "X-Scope-OrgID: tenant-7" >recv2.out 2>&1 &
PIDS="$PIDS $!"
"$RECV" "$p3" req3.log --tls srv.crt srv.key >recv3.out 2>&1 &
PIDS="$PIDS $!"
printf 'tok-1\n' > token
printf 's3cret\n' > password
agent() { # NAME URL OPTIONS...
  local name=$1 url=$2 port; shift 2
  port=$(free_port)
  { printf 'collectors:\n  netdev: {}\nexporters:\n  remote_write:\n'
    printf '    url: %s\n    interval: 500ms\n    timeout: 2s\n    max_backoff: 500ms\n' "$url"
    for o in "$@"; do printf '    %s\n' "$o"; done; } > "$name.yaml"
  "$ACCELMON" --config "$name.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$port" \
    >"$name.out" 2>"$name.log" &
  PIDS="$PIDS $!"
  eval "${name}_port=$port"
}
agent bearer "https://127.0.0.1:$p1/api/v1/write" "ca_file: $WORK/ca.crt" "bearer_token_file: $WORK/token"
agent basic "http://127.0.0.1:$p2/api/v1/write" "basic_auth_username: node" "basic_auth_password_file: $WORK/password" \
  "headers: ['X-Scope-OrgID: tenant-7']"
agent inurl "http://node:s3cret@127.0.0.1:$p2/api/v1/write" "external_labels: [via=url]" \
  "headers: ['X-Scope-OrgID: tenant-7']"
agent untrusted "https://127.0.0.1:$p3/api/v1/write"
agent insecure "https://127.0.0.1:$p3/api/v1/write" "insecure_skip_verify: true" "external_labels: [via=insecure]"

ok_count() { awk '$3 == 204 && $10 == "ok"' "$1" | wc -l; }
for _ in $(seq 1 100); do
  [ "$(ok_count req1.log)" -ge 2 ] && [ "$(ok_count req2.log)" -ge 2 ] && [ "$(ok_count req3.log)" -ge 2 ] && break
  sleep 0.1
done
[ "$(ok_count req1.log)" -ge 2 ] || fail "https + bearer token: $(cat req1.log bearer.log | tail -5)"
ok "https with ca_file and a bearer token from a file: $(ok_count req1.log) pushes accepted"
[ "$(ok_count req2.log)" -ge 2 ] || fail "basic auth: $(cat req2.log basic.log | tail -5)"
[ -z "$(awk '$10 != "ok"' req2.log)" ] || fail "basic auth refused: $(cat req2.log)"
ok "basic auth with a password file and an X-Scope-OrgID header: $(ok_count req2.log) pushes accepted"
for _ in $(seq 1 50); do
  s=$(curl -fsS "http://127.0.0.1:$inurl_port/metrics" | awk '/^accelmon_remote_write_samples_sent_total/ { print $2 }')
  [ "${s:-0}" -gt 0 ] && break
  sleep 0.1
done
[ "${s:-0}" -gt 0 ] || fail "credentials in the URL: nothing sent; $(tail -3 inurl.log)"
curl -fsS "http://127.0.0.1:$inurl_port/metrics" | grep -q s3cret && fail "the password shows on /metrics"
grep -q s3cret inurl.log && fail "the password shows in the log"
curl -fsS "http://127.0.0.1:$inurl_port/metrics" | grep -q "^accelmon_remote_write_samples_sent_total{url=\"http://127.0.0.1:$p2/api/v1/write\"}" ||
  fail "no url label without the credentials"
ok "user:password@ in the URL authenticates and shows neither on /metrics nor in the log"
[ "$(ok_count req3.log)" -ge 2 ] || fail "insecure_skip_verify: $(cat req3.log insecure.log | tail -5)"

# Every request on port 3 came from the insecure agent: the other one never
# got past the handshake.
# (The counters are read when a snapshot is rendered: wait for one with a
# failure, generously for the sanitizer builds.)
for _ in $(seq 1 100); do
  m=$(curl -fsS "http://127.0.0.1:$untrusted_port/metrics")
  failed=$(echo "$m" | awk '/^accelmon_remote_write_samples_failed_total/ { s += $2 } END { print s + 0 }')
  [ "$failed" -gt 0 ] && break
  sleep 0.1
done
sent=$(echo "$m" | awk '/^accelmon_remote_write_samples_sent_total/ { print $2 }')
[ "$sent" = 0 ] && [ "${failed:-0}" -gt 0 ] || fail "unverifiable certificate: sent $sent, failed $failed; $(tail -3 untrusted.log)"
grep -q "no answer (.*certificate" untrusted.log || fail "no certificate error logged: $(cat untrusted.log)"
ok "an unverifiable server certificate: nothing sent, $failed samples failed and kept for retry; with insecure_skip_verify: accepted"

# A token file missing for a moment (a rotation by rename): nothing goes
# without the credential, the pushes wait and are all sent once it is back.
u="url=\"https://127.0.0.1:$p1/api/v1/write\""
mv token token.away
for _ in $(seq 1 50); do grep -q "cannot read bearer_token_file" bearer.log && break; sleep 0.1; done
sleep 1
n0=$(ok_count req1.log)
mv token.away token
for _ in $(seq 1 50); do
  b=$(curl -fsS "http://127.0.0.1:$bearer_port/metrics" | awk -v k="accelmon_remote_write_spool_bytes{$u}" 'index($0, k " ") == 1 { print $2 }')
  [ "$b" = 0 ] && [ "$(ok_count req1.log)" -gt "$n0" ] && break
  sleep 0.1
done
grep -q unauthorized req1.log && fail "a request went without the token: $(grep unauthorized req1.log | head -2)"
grep -q "cannot read bearer_token_file .*kept for a retry" bearer.log || fail "missing token not logged: $(tail -3 bearer.log)"
cu=$(curl -fsS "http://127.0.0.1:$bearer_port/metrics" |
  awk -v k="accelmon_remote_write_samples_failed_total{$u,reason=\"credential_unreadable\"}" 'index($0, k " ") == 1 { print $2 }')
[ "${cu:-0}" -gt 0 ] || fail "samples held back for the token not counted as credential_unreadable"
[ "$b" = 0 ] || fail "requests kept while the token was missing not sent: spool $b bytes"
ok "a token file missing for a while: no request without it, $(( $(ok_count req1.log) - n0 )) kept pushes sent once it is back"

printf 'tok-rotated\n' > token
for _ in $(seq 1 50); do
  d=$(curl -fsS "http://127.0.0.1:$bearer_port/metrics" |
    awk -v k="accelmon_remote_write_samples_dropped_total{$u,reason=\"http_401\"}" 'index($0, k " ") == 1 { print $2 }')
  [ "${d:-0}" -gt 0 ] && break
  sleep 0.1
done
[ "${d:-0}" -gt 0 ] || fail "rotated token not used: $(tail -3 req1.log)"
grep -q unauthorized req1.log || fail "receiver saw no other token"
ok "a rotated token file is read for the next request (401: $d samples dropped as http_401)"
echo "remote_write_tls_auth: all checks passed"
