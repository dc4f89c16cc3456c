#!/bin/bash
# A 60 s wrk run against /metrics (issue 16), over TLS with basic auth (a
# bcrypt cost-10 hash: the cache keeps it off the per-scrape path) and gzip:
# no errors, no non-200, and flat memory and fds (resident size and open fds
# before and after, printed). Long: behind long_test.
. "$(dirname "$0")/lib.sh"
need curl
need wrk
need openssl
long_test

SECS=${WEB_SOAK_SECONDS:-60}
C="$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/srv.key" \
  -out "$C/srv.crt" -subj /CN=localhost -days 2 \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null || fail "openssl"
# bcrypt (cost 10) of "other"
cat > "$WORK/web.yml" <<'YAML'
tls_server_config: {cert_file: srv.crt, key_file: srv.key}
basic_auth_users:
  bob: $2b$10$jTonT9kOC1XEHVF14uEjNODjvhDSzgbZeXxJWOh3A7R5DOS/MZfw.
YAML
printf 'collectors:\n  netdev: {enabled: false}\n  sim: {devices: 16, interval: 100ms}\n' > "$WORK/a.yaml"

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }

soak() { # soak LABEL URL [wrk args]
  local label=$1 u=$2 r0 r1 f0 f1 out
  shift 2
  # warm up: allocator arenas, gzip cache, TLS session state
  wrk -t2 -c16 -d5s "$@" "$u" > /dev/null 2>&1
  r0=$(rss "$AGENT_PID"); f0=$(fds "$AGENT_PID")
  out=$(wrk -t2 -c16 -d"${SECS}s" --latency "$@" "$u" 2>&1) || fail "$label: wrk: $out"
  sleep 1
  r1=$(rss "$AGENT_PID"); f1=$(fds "$AGENT_PID")
  echo "$out" | sed "s/^/$label wrk: /"
  echo "$out" | grep -q 'Socket errors\|Non-2xx' && fail "$label: errors in the wrk run"
  echo "$label: resident ${r0} kB -> ${r1} kB, fds $f0 -> $f1"
  [ -n "$r0" ] && [ -n "$r1" ] || fail "$label: no resident size read"
  awk -v a="$r0" -v b="$r1" 'BEGIN{exit !(b <= a * 1.05 + 1024)}' ||
    fail "$label: resident memory grew from $r0 kB to $r1 kB"
  [ "$f1" -le "$((f0 + 2))" ] || fail "$label: fds grew from $f0 to $f1"
  ok "$label: ${SECS}s wrk run without errors, memory and fds flat"
}

port=$(free_port)
start_agent --config "$WORK/a.yaml" --listen "127.0.0.1:$port" --web.config.file "$WORK/web.yml"
ok_start=""
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null -k -u bob:other "https://127.0.0.1:$port/metrics" 2>/dev/null && { ok_start=1; break; }
  sleep 0.1
done
[ -n "$ok_start" ] || fail "agent did not answer: $(cat "$WORK/agent.log")"
soak "TLS + basic auth + gzip" "https://127.0.0.1:$port/metrics" \
  -H "Authorization: Basic $(printf bob:other | base64)" -H "Accept-Encoding: gzip"
