#!/bin/bash
# Remote write with a client certificate (mTLS) to a real Prometheus whose
# web config requires and verifies one (client_auth_type:
# RequireAndVerifyClientCert). The test makes a CA, a server certificate and
# a client certificate with openssl, plus a client certificate of another CA.
# The agent with cert_file + key_file is accepted (its series are in
# Prometheus); one without a client certificate and one whose certificate
# the server does not trust send nothing, their samples are counted as
# failed and kept for a retry.
. "$(dirname "$0")/lib.sh"
need curl
need openssl
need prometheus
need jq

cd "$WORK" || exit 1
mkcert() { # NAME CA_NAME EXT: NAME.key, NAME.crt signed by CA_NAME
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" \
    2>/dev/null || fail "openssl: $1 CSR"
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial \
    -out "$1.crt" -days 2 -extfile "$1.ext" 2>/dev/null || fail "openssl: $1 certificate"
}
for ca in ca rogue-ca; do
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$ca.key" -out "$ca.crt" -days 2 \
    -subj "/CN=accelmon-test-$ca" 2>/dev/null || fail "openssl: $ca"
done
mkcert srv ca "subjectAltName=IP:127.0.0.1"
mkcert node ca "extendedKeyUsage=clientAuth"
mkcert rogue rogue-ca "extendedKeyUsage=clientAuth"

pport=$(free_port)
cat > web.yml <<YAML
tls_server_config:
  cert_file: $WORK/srv.crt
  key_file: $WORK/srv.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: $WORK/ca.crt
YAML
printf 'global: {}\n' > prom.yml
prometheus --config.file=prom.yml --storage.tsdb.path="$WORK/prom-data" \
  --web.listen-address="127.0.0.1:$pport" --web.enable-remote-write-receiver \
  --web.config.file=web.yml >prom.log 2>&1 &
PIDS="$PIDS $!"
P="https://127.0.0.1:$pport"
pcurl() { curl -fsS --max-time 2 --cacert ca.crt --cert node.crt --key node.key "$@"; }
for _ in $(seq 1 150); do pcurl -o /dev/null "$P/-/ready" 2>/dev/null && break; sleep 0.1; done
pcurl -o /dev/null "$P/-/ready" || fail "prometheus not ready: $(tail -5 prom.log)"
curl -fsS --max-time 2 --cacert ca.crt -o /dev/null "$P/-/ready" 2>/dev/null &&
  fail "prometheus answers without a client certificate (web config not in force)"
ok "Prometheus requires a client certificate (curl without one is refused)"

agent() { # NAME OPTIONS...
  local name=$1 port; shift
  port=$(free_port)
  { printf 'collectors:\n  netdev: {}\nexporters:\n  remote_write:\n'
    printf '    url: %s/api/v1/write\n    interval: 500ms\n    timeout: 2s\n' "$P"
    printf '    max_backoff: 500ms\n    ca_file: %s/ca.crt\n' "$WORK"
    printf '    external_labels: [via=%s]\n' "$name"
    for o in "$@"; do printf '    %s\n' "$o"; done; } > "$name.yaml"
  "$ACCELMON" --config "$name.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$port" \
    >"$name.out" 2>"$name.log" &
  PIDS="$PIDS $!"
  eval "${name}_port=$port"
}
agent node "cert_file: $WORK/node.crt" "key_file: $WORK/node.key"
agent nocert
agent rogue "cert_file: $WORK/rogue.crt" "key_file: $WORK/rogue.key"

stat() { # AGENT_PORT NAME
  curl -fsS "http://127.0.0.1:$1/metrics" | awk -v k="$2{" 'index($0, k) == 1 { s += $2 } END { print s + 0 }'
}
for _ in $(seq 1 100); do
  [ "$(stat "$node_port" accelmon_remote_write_samples_sent_total)" -gt 0 ] &&
    [ "$(stat "$nocert_port" accelmon_remote_write_samples_failed_total)" -gt 0 ] &&
    [ "$(stat "$rogue_port" accelmon_remote_write_samples_failed_total)" -gt 0 ] && break
  sleep 0.1
done
sent=$(stat "$node_port" accelmon_remote_write_samples_sent_total)
[ "$sent" -gt 0 ] || fail "client certificate: nothing sent: $(tail -3 node.log)"
n=0
for _ in $(seq 1 50); do
  n=$(pcurl --get --data-urlencode 'query=count({via="node"})' "$P/api/v1/query" |
    jq -r '.data.result[0].value[1] // 0')
  [ "$n" -gt 0 ] && break
  sleep 0.1
done
[ "$n" -gt 0 ] || fail "Prometheus has no series of the agent with a client certificate"
ok "cert_file + key_file: $sent samples accepted, $n series in Prometheus"
for a in nocert rogue; do
  port_var="${a}_port"
  s=$(stat "${!port_var}" accelmon_remote_write_samples_sent_total)
  f=$(stat "${!port_var}" accelmon_remote_write_samples_failed_total)
  b=$(stat "${!port_var}" accelmon_remote_write_spool_bytes)
  [ "$s" = 0 ] && [ "$f" -gt 0 ] && [ "$b" -gt 0 ] ||
    fail "$a: sent $s, failed $f, queued $b bytes; $(tail -3 "$a.log")"
  grep -q "no answer (" "$a.log" || fail "$a: no TLS error logged: $(tail -3 "$a.log")"
  c=$(pcurl --get --data-urlencode "query=count({via=\"$a\"})" "$P/api/v1/query" | jq '.data.result | length')
  [ "$c" = 0 ] || fail "$a: series reached Prometheus"
  ok "$a: refused by the server, nothing sent, $f samples failed and $b bytes kept for a retry"
done
echo "remote_write_mtls: all checks passed"
