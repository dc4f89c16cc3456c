#!/bin/bash
# The web config end to end (issue 16), with certificates made here by
# openssl: each client_auth_type with no, a trusted and an untrusted client
# certificate; min/max_version; basic auth (good, bad, unknown user: 401 and
# WWW-Authenticate: Basic); a serverAuth-only client certificate refused;
# errors at start (exit 2, FILE:LINE) from the
# command line and from the config key; SIGHUP with a good and a bad web
# config; a rotated certificate served without a signal; TLS turned off by
# SIGHUP; and a real Prometheus scraping over TLS with basic auth.
. "$(dirname "$0")/lib.sh"
need curl
need openssl

C="$WORK/certs"
mkdir -p "$C"
mkcert() { # mkcert NAME CN ISSUER(ca|other) [SAN]
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/$1.key" \
    -out "$C/$1.csr" -subj "/CN=$2" 2>/dev/null || fail "openssl req $1"
  printf '%s\n' "${4:-basicConstraints=CA:FALSE}" > "$C/$1.ext"
  openssl x509 -req -in "$C/$1.csr" -CA "$C/$3.crt" -CAkey "$C/$3.key" -CAcreateserial \
    -out "$C/$1.crt" -days 2 -extfile "$C/$1.ext" 2>/dev/null || fail "openssl x509 $1"
}
for ca in ca other; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/$ca.key" \
    -out "$C/$ca.crt" -subj "/CN=test $ca" -days 2 2>/dev/null || fail "openssl CA"
done
mkcert srv localhost ca "subjectAltName=DNS:localhost,IP:127.0.0.1"
mkcert srv2 localhost ca "subjectAltName=DNS:localhost,IP:127.0.0.1"
mkcert good client ca
mkcert bad client other
# signed by the trusted CA, but for servers only (extendedKeyUsage)
mkcert srvonly client ca "extendedKeyUsage=serverAuth"
cp "$C/srv.crt" "$C/live.crt"
cp "$C/srv.key" "$C/live.key"

# bcrypt (cost 4) of "s3cret"
HASH='$2b$04$NOt/39FIZWHJnl70MekTceBP.00av9srTLx1hv7m8g6hSIkW.BkRG'
web() { # web CLIENT_AUTH [extra tls lines]: the web config, client CA where asked
  {
    echo "tls_server_config:"
    echo "  cert_file: certs/live.crt"
    echo "  key_file: certs/live.key"
    echo "  client_auth_type: $1"
    case "$1" in NoClientCert) ;; *) echo "  client_ca_file: certs/ca.crt" ;; esac
    shift
    for l in "$@"; do echo "  $l"; done
  } > "$WORK/web.yml.new"
  mv "$WORK/web.yml.new" "$WORK/web.yml"
}

port=$(free_port)
url="https://localhost:$port"
web NoClientCert
printf 'collectors:\n  netdev: {enabled: false}\n  sim: {devices: 2, interval: 200ms}\n' > "$WORK/a.yaml"
start_agent --config "$WORK/a.yaml" --listen "127.0.0.1:$port" --web.config.file "$WORK/web.yml" --log-level debug
ok_start=""
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null --cacert "$C/ca.crt" "$url/-/healthy" 2>/dev/null && { ok_start=1; break; }
  sleep 0.1
done
[ -n "$ok_start" ] || fail "no HTTPS answer: $(cat "$WORK/agent.log")"
grep -q "serving https://127.0.0.1:$port/metrics" "$WORK/agent.log" || fail "no https line in the log"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
[ "$code" = 000 ] || fail "plain HTTP on the TLS port answered $code"
ok "TLS (NoClientCert); plain HTTP gets no answer"

reloads=1
hup() { # hup: SIGHUP, wait for the web config to be read again
  local want=$((reloads)) n
  kill -HUP "$AGENT_PID"
  for _ in $(seq 1 100); do
    n=$(grep -c "web config reloaded from" "$WORK/agent.log")
    [ "$n" -ge "$want" ] && { reloads=$((reloads + 1)); return 0; }
    sleep 0.1
  done
  fail "no reload after SIGHUP: $(tail -3 "$WORK/agent.log")"
}
# code CERT(none|good|bad): the HTTP status of a scrape, 000 when TLS failed
code() {
  local a=()
  [ "$1" != none ] && a=(--cert "$C/$1.crt" --key "$C/$1.key")
  curl -s -o /dev/null -w '%{http_code}' --cacert "$C/ca.crt" "${a[@]}" "$url/metrics"
}
expect() { # expect TYPE none good bad: the codes wanted
  local got
  got="$(code none) $(code good) $(code bad)"
  [ "$got" = "$2 $3 $4" ] || fail "$1: no/trusted/untrusted client certificate got $got, want $2 $3 $4"
  ok "$1: no/trusted/untrusted client certificate: $got"
}
expect NoClientCert 200 200 200
# A SIGHUP reads the web config once (for the check, keep and the reload),
# and not at all when it did not change.
reads() { grep -c "web config read from" "$WORK/agent.log"; }
r0=$(reads)
hup
[ "$(reads)" = "$r0" ] || fail "an unchanged web config was read again on SIGHUP: $((r0)) -> $(reads)"
grep -q "web config reloaded from .*(SIGHUP, unchanged)" "$WORK/agent.log" || fail "no unchanged line"
web RequestClientCert; hup
[ "$(reads)" = $((r0 + 1)) ] || fail "a changed web config was read $(($(reads) - r0)) times on SIGHUP"
ok "SIGHUP reads the web config once, unchanged not at all"
expect RequestClientCert 200 200 200
web RequireAnyClientCert; hup
expect RequireAnyClientCert 000 200 200
web VerifyClientCertIfGiven; hup
expect VerifyClientCertIfGiven 200 200 000
web RequireAndVerifyClientCert; hup
expect RequireAndVerifyClientCert 000 200 000
# A certificate from the trusted CA whose extended key usage is serverAuth
# only is refused, as Go refuses it (ExtKeyUsageClientAuth).
[ "$(code srvonly)" = 000 ] || fail "RequireAndVerifyClientCert: a serverAuth-only certificate got $(code srvonly)"
ok "RequireAndVerifyClientCert: a serverAuth-only certificate from the CA is refused"

# Versions: curl --tlsv1.3 asks for at least 1.3, --tls-max 1.2 for at most 1.2.
web NoClientCert "max_version: TLS12"; hup
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$C/ca.crt" --tlsv1.3 "$url/metrics")" = 000 ] ||
  fail "max_version TLS12 let TLS 1.3 in"
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$C/ca.crt" --tls-max 1.2 "$url/metrics")" = 200 ] ||
  fail "max_version TLS12 refused TLS 1.2"
web NoClientCert "min_version: TLS13"; hup
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$C/ca.crt" --tls-max 1.2 "$url/metrics")" = 000 ] ||
  fail "min_version TLS13 let TLS 1.2 in"
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$C/ca.crt" --tlsv1.3 "$url/metrics")" = 200 ] ||
  fail "min_version TLS13 refused TLS 1.3"
ok "min_version / max_version"
web NoClientCert "max_version: TLS12" "cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]"; hup
curl -s -o /dev/null --cacert "$C/ca.crt" --ciphers ECDHE-ECDSA-AES128-GCM-SHA256 "$url/metrics" &&
  fail "cipher_suites: a suite left out was accepted"
curl -fsS -o /dev/null --cacert "$C/ca.crt" --ciphers ECDHE-ECDSA-AES256-GCM-SHA384 "$url/metrics" ||
  fail "cipher_suites: the listed suite was refused"
ok "cipher_suites"

# Basic auth, and http_server_config.headers.
web NoClientCert
printf 'basic_auth_users:\n  alice: %s\n' "$HASH" >> "$WORK/web.yml"
printf 'http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: "default-src none"\n' >> "$WORK/web.yml"
hup
for path in /metrics /; do
  curl -fsS -o /dev/null -D "$WORK/h" --cacert "$C/ca.crt" -u alice:s3cret "$url$path" || fail "GET $path"
  grep -qi '^X-Frame-Options: deny' "$WORK/h" || fail "$path: no X-Frame-Options from the web config: $(cat "$WORK/h")"
done
# the live page keeps its own Content-Security-Policy (its styles need it)
[ "$(grep -ci '^Content-Security-Policy:' "$WORK/h")" = 1 ] && grep -qi "^Content-Security-Policy: default-src 'none'; style-src" "$WORK/h" ||
  fail "/: Content-Security-Policy: $(cat "$WORK/h")"
ok "http_server_config.headers on every response; the live page keeps its CSP"
auth() { curl -s -o /dev/null -D "$WORK/h" -w '%{http_code}' --cacert "$C/ca.crt" "$@" "$url/metrics"; }
[ "$(auth -u alice:s3cret)" = 200 ] || fail "basic auth: alice with her password"
for who in alice:wrong bob:s3cret none; do
  if [ "$who" = none ]; then c=$(auth); else c=$(auth -u "$who"); fi
  [ "$c" = 401 ] || fail "basic auth: $who got $c"
  grep -qi '^WWW-Authenticate: Basic' "$WORK/h" || fail "basic auth: $who: no WWW-Authenticate: $(cat "$WORK/h")"
done
ok "basic auth: good 200; bad password, unknown user, none: 401 with WWW-Authenticate: Basic"

# A bad web config on SIGHUP keeps the running one.
cp "$WORK/web.yml" "$WORK/web.good"
printf 'tls_server_config:\n  cert_file: certs/live.crt\n  key_file: certs/live.key\n  min_version: TLS99\n' > "$WORK/web.yml"
kill -HUP "$AGENT_PID"
want="reload failed, keeping the running config: .*:[0-9]*: exporters.prometheus.web_config_file: (--web.config.file) $WORK/web.yml:4: tls_server_config.min_version: unknown version TLS99"
for _ in $(seq 1 100); do
  grep -q "$want" "$WORK/agent.log" && break
  sleep 0.1
done
grep -q "$want" "$WORK/agent.log" || fail "bad web config on SIGHUP: $(tail -3 "$WORK/agent.log")"
[ "$(auth -u alice:s3cret)" = 200 ] && [ "$(auth -u bob:x)" = 401 ] || fail "the running web config did not stay"
ok "bad web config on SIGHUP: the reload is refused with FILE:LINE, the running one stays"
cp "$WORK/web.good" "$WORK/web.yml"
hup

# A rotated certificate is served at the next handshake, with no signal.
serial() {
  openssl s_client -connect "127.0.0.1:$port" -CAfile "$C/ca.crt" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null
}
old=$(serial)
want=$(openssl x509 -noout -serial -in "$C/srv2.crt")
[ -n "$old" ] && [ "$old" != "$want" ] || fail "serials: served $old, new $want"
cp "$C/srv2.key" "$C/live.key.new" && cp "$C/srv2.crt" "$C/live.crt.new"
mv "$C/live.key.new" "$C/live.key" && mv "$C/live.crt.new" "$C/live.crt"
got=""
for _ in $(seq 1 50); do
  got=$(serial)
  [ "$got" = "$want" ] && break
  sleep 0.2
done
[ "$got" = "$want" ] || fail "rotated certificate not served: $got, want $want"
grep -q "web config reloaded from .*(certificate files changed)" "$WORK/agent.log" || fail "no rotation line"
[ "$(auth -u alice:s3cret)" = 200 ] || fail "after rotation"
ok "rotated certificate served without a signal"
# A key that does not match the certificate (half a rotation): logged, the
# running certificate stays.
cp "$C/good.key" "$C/live.key"
for _ in $(seq 1 50); do
  grep -q "web config not reloaded (certificate files changed), keeping the running one: $WORK/web.yml:3: tls_server_config.key_file: .* do not load" "$WORK/agent.log" && break
  sleep 0.2
done
grep -q "web config not reloaded (certificate files changed), keeping the running one: $WORK/web.yml:3: tls_server_config.key_file" "$WORK/agent.log" ||
  fail "a mismatched key: $(tail -3 "$WORK/agent.log")"
[ "$(serial)" = "$want" ] && [ "$(auth -u alice:s3cret)" = 200 ] || fail "a mismatched key replaced the running certificate"
sleep 2.5 # logged once, not every second
n=$(grep -c "web config not reloaded (certificate files changed)" "$WORK/agent.log")
[ "$n" = 1 ] || fail "a mismatched key logged $n times"
cp "$C/srv2.key" "$C/live.key"
ok "a key that does not match: logged once, the running certificate stays"

# Prometheus scrapes over TLS with basic auth.
if command -v prometheus >/dev/null; then
  pport=$(free_port)
  cat > "$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: accelmon
    scheme: https
    tls_config: {ca_file: $C/ca.crt, server_name: localhost}
    basic_auth: {username: alice, password: s3cret}
    static_configs: [{targets: ["127.0.0.1:$port"]}]
YAML
  prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$pport" >"$WORK/prom.log" 2>&1 &
  PIDS="$PIDS $!"
  wait_http "http://127.0.0.1:$pport/-/ready" 30 || fail "prometheus not ready: $(tail -5 "$WORK/prom.log")"
  up=""
  for _ in $(seq 1 60); do
    r=$(curl -fsS --get --data-urlencode 'query=up{job="accelmon"}' "http://127.0.0.1:$pport/api/v1/query")
    echo "$r" | grep -q '"value":\[[0-9.]*,"1"\]' && { up=1; break; }
    sleep 0.25
  done
  [ -n "$up" ] || fail "Prometheus over TLS + basic auth: up never 1: $r; $(curl -fsS "http://127.0.0.1:$pport/api/v1/targets")"
  ok "Prometheus scrapes over TLS with basic auth: up == 1"
fi

# TLS turned off by SIGHUP: the server restarts on plain HTTP.
printf 'basic_auth_users:\n  alice: %s\n' "$HASH" > "$WORK/web.yml"
kill -HUP "$AGENT_PID"
ok_plain=""
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -u alice:s3cret "http://127.0.0.1:$port/metrics")" = 200 ] && { ok_plain=1; break; }
  sleep 0.1
done
[ -n "$ok_plain" ] || fail "TLS off by SIGHUP: no plain answer: $(tail -3 "$WORK/agent.log")"
ok "TLS turned off by SIGHUP: plain HTTP with basic auth"

# Errors at start: exit 2 with FILE:LINE: key: problem.
printf 'tls_server_config:\n  cert_file: certs/live.crt\n  key_file: certs/nokey\n' > "$WORK/bad.yml"
"$ACCELMON" --once --web.config.file "$WORK/bad.yml" > /dev/null 2> "$WORK/err"
rc=$?
[ "$rc" = 2 ] || fail "bad --web.config.file: exit $rc"
grep -q "^accelmon: $WORK/bad.yml:3: tls_server_config.key_file: cannot read $C/nokey: No such file" "$WORK/err" ||
  fail "bad --web.config.file: $(cat "$WORK/err")"
printf 'exporters:\n  prometheus:\n    web_config_file: %s\n' "$WORK/bad.yml" > "$WORK/b.yaml"
"$ACCELMON" --once --config "$WORK/b.yaml" > /dev/null 2> "$WORK/err"
rc=$?
[ "$rc" = 2 ] || fail "bad web_config_file: exit $rc"
grep -q "^accelmon: $WORK/b.yaml:3: exporters.prometheus.web_config_file: $WORK/bad.yml:3: tls_server_config.key_file: cannot read" "$WORK/err" ||
  fail "bad web_config_file: $(cat "$WORK/err")"
ok "bad web config at start: exit 2, $(cat "$WORK/err")"
