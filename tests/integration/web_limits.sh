#!/bin/bash
# The HTTP limits that hold by default (issue 16): 500 idle and 500
# slow-header connections from 50 addresses do not keep a normal scrape from
# answering (latency printed; the bound here is a generous 1 s, the issue's
# target 100 ms); one address gets per_ip_connection_limit connections; a
# client that trickles its headers is cut at header_timeout; a head over
# header_size_limit gets 431; a bad Content-Length gets one status line;
# 520 connections trickling request bodies hold nothing (another method
# gets 405, a GET with a body 413, at once); with basic auth, 16 clients
# sending wrong passwords do not stall a scrape (failed checks rate limited,
# 429).
. "$(dirname "$0")/lib.sh"
need curl
need python3
FLOOD="$ABS_SRCDIR/tests/integration/web_flood.py"

port=$(free_port)
url="http://127.0.0.1:$port"
# The defaults: connection_limit 512, per_ip_connection_limit 32,
# header_timeout 5s, header_size_limit 32768.
printf 'collectors:\n  netdev: {enabled: false}\n  sim: {devices: 8, interval: 200ms}\n' > "$WORK/a.yaml"
start_agent --config "$WORK/a.yaml" --listen "127.0.0.1:$port"
wait_http "$url/metrics" || fail "agent did not answer: $(cat "$WORK/agent.log")"

python3 "$FLOOD" perip "$port" 100 32 || fail "per-address limit"
ok "per-address limit"

python3 "$FLOOD" deadline "$port" 5 || fail "header deadline"
ok "header deadline"

out=$(python3 "$FLOOD" flood "$port" 500 500 50 1.0) || fail "flood: $out"
echo "$out"
held=$(echo "$out" | sed -n 's/.*the server held \([0-9]*\) at the start and \([0-9]*\) at the end.*/\1 \2/p')
[ -n "$held" ] || fail "flood output: $out"
for h in $held; do # at most the limit, and the scrape's own connection
  [ "$h" -le 513 ] || fail "server held $h connections, connection_limit is 512"
done
[ "${held#* }" -ge 256 ] || fail "the server held only ${held#* } of 1000 at the end: not the limit at work"
ok "scrapes answer under 1000 hostile connections"

# The counters say why connections were closed.
wait_http "$url/-/healthy" 5 || fail "agent stopped answering after the flood"
sleep 0.5 # the next snapshot carries the counters
curl -fsS "$url/metrics" > "$WORK/m.txt"
ev=$(sed -n 's/^accelmon_http_connections_closed_total{reason="evicted"} //p' "$WORK/m.txt")
to=$(sed -n 's/^accelmon_http_connections_closed_total{reason="header_timeout"} //p' "$WORK/m.txt")
[ "${ev:-0}" -gt 0 ] && [ "${to:-0}" -gt 0 ] || fail "closed counters: evicted=$ev header_timeout=$to"
ok "closed by the limits: evicted=$ev header_timeout=$to"

# A request head over header_size_limit (default 32 KiB): 431, and the
# server goes on.
big=$(head -c 40000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$url/metrics")
[ "$code" = 431 ] || fail "a 40 KB header got $code, not 431"
curl -fsS -o /dev/null "$url/metrics" || fail "no scrape after a big header"
ok "header size limit: 431"

# libmicrohttpd 0.9.75 sent the status line and headers of this answer twice.
for cl in abc -1 99999999999999999999999; do
  resp=$(python3 "$FLOOD" raw "$port" "GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: $cl\r\n\r\n")
  n=$(printf '%s' "$resp" | grep -c '^HTTP/1.1 ')
  [ "$n" = 1 ] || fail "Content-Length: $cl: $n status lines: $resp"
  case "$cl" in
    9*) want=413 ;;
    *) want=400 ;;
  esac
  printf '%s' "$resp" | head -1 | grep -q "^HTTP/1.1 $want " || fail "Content-Length: $cl: $resp"
  # the body is exactly Content-Length bytes
  len=$(printf '%s' "$resp" | sed -n 's/^Content-Length: \([0-9]*\).*/\1/p')
  body=$(printf '%s' "$resp" | sed '1,/^\r$/d')
  [ "$((${#body} + 1))" = "$len" ] || fail "Content-Length: $cl: body ${#body}+1 bytes, header $len"
done
# The answer goes to the connection whose headers MHD rejected, and to no
# other: a second client on the same thread, its request line in and the
# same bad header sent but its headers not ended, gets nothing meanwhile.
resp=$(python3 - "$port" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
a = socket.create_connection(("127.0.0.1", port), timeout=5)
a.sendall(b"GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n")
time.sleep(0.3)
b = socket.create_connection(("127.0.0.1", port), timeout=5)
b.sendall(b"GET /metrics HTTP/1.1\r\nHost: b\r\nContent-Length: abc\r\n\r\n")
def drain(s):  # all until the server closes
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            return out
        out += c
data = drain(b)
a.settimeout(0.3)
try:
    early = a.recv(65536)
except socket.timeout:
    early = b"(nothing)"
a.sendall(b"\r\n")
a.settimeout(5)
later = drain(a)
print("B:", data.count(b"HTTP/1.1 "), "A-early:", early.count(b"HTTP/1.1 "),
      "A:", later.count(b"HTTP/1.1 400 "), later.count(b"HTTP/1.1 "))
PY
)
[ "$resp" = "B: 1 A-early: 0 A: 1 1" ] ||
  fail "a bad Content-Length beside a client with its headers unfinished: $resp (want B: 1 A-early: 0 A: 1 1)"
curl -fsS -o /dev/null "$url/metrics" || fail "no scrape after bad Content-Length"
ok "bad Content-Length: one 400 or 413, to that connection only"

# Only GET and HEAD without a body are served; the rest is answered at
# once, before any body is read, and closed.
resp=$(timeout 10 python3 "$FLOOD" raw "$port" "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\nA")
printf '%s' "$resp" | head -1 | grep -q '^HTTP/1.1 405 ' || fail "POST with a body: $resp"
for body in 'Content-Length: 5\r\n\r\nAB' 'Transfer-Encoding: chunked\r\n\r\n5\r\nAB'; do
  resp=$(timeout 10 python3 "$FLOOD" raw "$port" "GET /metrics HTTP/1.1\r\nHost: a\r\n$body")
  printf '%s' "$resp" | head -1 | grep -q '^HTTP/1.1 413 ' || fail "GET with $body: $resp"
done
resp=$(timeout 10 python3 "$FLOOD" raw "$port" "GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
printf '%s' "$resp" | head -1 | grep -q '^HTTP/1.1 200 ' || fail "GET with Content-Length: 0: $(printf '%s' "$resp" | head -3)"
ok "a request body or another method: 413 or 405 at once, the body unread"

# 520 connections (26 from each of 20 addresses) send a request with a
# 100 MB body and trickle it: none is held, scrapes answer.
out=$(python3 "$FLOOD" body "$port" 520 20 1.0) || fail "slow bodies: $out"
echo "$out"
ok "scrapes answer under 520 slow request bodies"
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null

# Basic auth (bcrypt cost 12, of "other": about 0.25 s a check): 20 clients
# sending wrong passwords as fast as they are answered; the scraper's cached
# check needs no bcrypt, the failed ones are limited (unlimited: every scrape
# waited) and run on the auth worker, not the HTTP thread, so no scrape
# waits behind one: each answers in 100 ms (with bcrypt on the HTTP thread
# the slowest waited out a bcrypt). Sanitizer builds (CI's ASan and TSan
# passes, which set ACCELMON_LONG_TESTS) get 1.5 s for the slowest.
printf 'basic_auth_users:\n  bob: $2b$12$joIcQ/OMwcWhok4cwylHP.5cnVxA6f3P.SWf4A2Yx6monAEEufM5e\n' > "$WORK/web.yml"
port=$(free_port)
url="http://127.0.0.1:$port"
start_agent --config "$WORK/a.yaml" --listen "127.0.0.1:$port" --web.config.file "$WORK/web.yml"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null -u bob:other "$url/metrics" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null -u bob:other "$url/metrics" || fail "agent with basic auth did not answer: $(cat "$WORK/agent.log")"
case "${ACCELMON_LONG_TESTS:-1}" in 0|race) bound=1.5 ;; *) bound=0.1 ;; esac
out=$(python3 "$FLOOD" auth "$port" 20 bob:other bob:wrong "$bound") || fail "wrong passwords: $out"
echo "$out"
sleep 0.5 # the next snapshot carries the counter
lim=$(curl -fsS -u bob:other "$url/metrics" | sed -n 's/^accelmon_http_auth_limited_total //p')
[ "${lim:-0}" -gt 0 ] || fail "accelmon_http_auth_limited_total: $lim"
ok "wrong passwords: scrapes answer, $lim checks refused 429 without bcrypt"

# A scraper's first check (not cached yet, from an address with no failure)
# is not crowded out by an address that has failed: 16 wrong passwords at
# once from 127.0.0.2 (failed once, a second ago) fill at most 6 of the 8
# queue places, so bob's right password from 127.0.0.3 is checked, 200
# (without the reserve: 429).
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
port=$(free_port)
# carol has bob's hash (password "other"): her first check tells when the
# clean pool has refilled, without putting bob's answer in the cache.
sed 's/^\(  bob: \)\(.*\)$/\1\2\n  carol: \2/' "$WORK/web.yml" >"$WORK/web2.yml"
start_agent --config "$WORK/a.yaml" --listen "127.0.0.1:$port" --web.config.file "$WORK/web2.yml"
wait_for_401() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics" 2>/dev/null; }
for _ in $(seq 1 100); do [ "$(wait_for_401)" = 401 ] && break; sleep 0.1; done
out=$(python3 - "$port" <<'PY'
import base64, socket, sys, time
port = int(sys.argv[1])
def req(src, cred):
    s = socket.create_connection(("127.0.0.1", port), 5, (src, 0))
    a = base64.b64encode(cred.encode()).decode()
    s.sendall(("GET /metrics HTTP/1.1\r\nHost: a\r\nAuthorization: Basic %s\r\n"
               "Connection: close\r\n\r\n" % a).encode())
    return s
def status(s):
    s.settimeout(10)
    d = b""
    while b"\r\n" not in d:
        c = s.recv(100)
        if not c: break
        d += c
    return d.split(b" ")[1].decode() if b" " in d else "none"
print("dirtying:", status(req("127.0.0.2", "bob:wrong")))
# The clean pool refills (the dirtying check's bcrypt time, longer on a
# loaded machine, was charged to it): a first check of carol's right
# password from another clean address is 200 once it has (429 before;
# a right password is not charged).
for _ in range(100):
    if status(req("127.0.0.4", "carol:other")) == "200":
        break
    time.sleep(0.1)
else:
    print("the clean pool did not refill in 10 s"); sys.exit(1)
flood = [req("127.0.0.2", "bob:wrong%d" % i) for i in range(12)]
time.sleep(0.05)  # the worker has taken one: 4 more fill that place again
flood += [req("127.0.0.2", "bob:late%d" % i) for i in range(4)]
time.sleep(0.05)
good = status(req("127.0.0.3", "bob:other"))
codes = [status(s) for s in flood]
print("flood:", " ".join(sorted(codes)), "good:", good)
PY
) || fail "auth queue: $out"
echo "$out"
case "$out" in *"good: 200") ;; *) fail "a fresh scraper's check behind a failed address's flood: $out (want good: 200)" ;; esac
ok "16 checks from a failed address leave a queue place for a scraper's first check"
