#!/bin/bash
# A reload is all or nothing: SIGHUP with each broken config (a taken listen
# address, an unresolvable host, bad records options, a FIFO in place of the
# file) is refused with a log line saying so, and the running port, config
# and record file go on; a reload that changes nothing in records keeps its
# file, one that changes an option but not the address keeps the port open;
# the same address by another name or another host on the same port
# switches (a connect in the brief gap of a host switch is retried), and no
# process may then join the port with SO_REUSEPORT; a new server that fails
# to start (no descriptors) leaves the running one serving and its socket
# closed.
. "$(dirname "$0")/lib.sh"
need curl
need python3

port=$(free_port)
url="http://127.0.0.1:$port/metrics"
rec="$WORK/rec"
cfg="$WORK/c.yaml"
write_cfg() { # write_cfg LISTEN RECORDS-EXTRA [COLLECTOR-EXTRA]
  cat > "$cfg.new" <<YAML
listen: "$1"
exporters:
  records: {dir: "$rec", interval: 200ms$2}
collectors:
  netdev: {enabled: false}
  sim: {devices: 1, interval: 100ms${3:-}}
YAML
  mv "$cfg.new" "$cfg"
}
# hup_wait PATTERN: SIGHUP, then until the log has one more line matching.
hup_wait() {
  local n
  n=$(grep -c -- "$1" "$WORK/agent.log")
  kill -HUP "$AGENT_PID"
  for _ in $(seq 1 100); do
    [ "$(grep -c -- "$1" "$WORK/agent.log")" -gt "$n" ] && return 0
    sleep 0.1
  done
  fail "no '$1' in the log after SIGHUP: $(tail -5 "$WORK/agent.log")"
}
batches() { curl -fsS --max-time 2 "$url" | awk '/^accelmon_records_batches_total /{print $2}'; }
files() { find "$rec" -name '*.amrec' | wc -l; }

write_cfg "127.0.0.1:$port" ""
start_agent --config "$cfg"
wait_http "$url" || fail "agent did not come up: $(cat "$WORK/agent.log")"
for _ in $(seq 1 50); do [ "$(files)" = 1 ] && break; sleep 0.1; done
[ "$(files)" = 1 ] || fail "no record file"
first=$(find "$rec" -name '*.amrec')

# 1. A listen address someone else holds: refused, the old port serves.
taken=$(free_port)
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$taken)); s.listen(1); time.sleep(30)" &
holder=$!; PIDS="$PIDS $holder"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$taken") 2>/dev/null && break; sleep 0.1; done
write_cfg "127.0.0.1:$taken" ""
hup_wait "reload failed"
grep -q "reload failed, keeping the running config: nothing changed.*listen address 127.0.0.1:$port.*cannot listen on 127.0.0.1:$taken: Address already in use" \
  "$WORK/agent.log" || fail "refusal does not say why: $(tail -2 "$WORK/agent.log")"
curl -fsS -o /dev/null --max-time 2 "$url" || fail "taken listen address closed the working port"
ok "taken address: refused, port $port still serves"

# 2. Each broken records section and an unknown host: refused with
#    FILE:LINE; the record file keeps growing.
while IFS='|' read -r extra listen want; do
  write_cfg "$listen" "$extra"
  hup_wait "reload failed"
  tail -1 "$WORK/agent.log" | grep -q -- "$want" ||
    fail "refusal of '$extra' '$listen' lacks '$want': $(tail -1 "$WORK/agent.log")"
  curl -fsS -o /dev/null --max-time 2 "$url" || fail "port closed after a refused reload ($want)"
done <<CASES
, keyframe_every: -1|127.0.0.1:$port|$cfg:3: exporters.records.keyframe_every: -1 is out of range
, max_file_size: 99999999999TiB|127.0.0.1:$port|$cfg:3: exporters.records.max_file_size: '99999999999TiB' is not a size
, retention_size: lots|127.0.0.1:$port|$cfg:3: exporters.records.retention_size:
, fsync_interval: -1s|127.0.0.1:$port|$cfg:3: exporters.records.fsync_interval
|nohost.invalid:$port|$cfg:1: listen: nohost.invalid:$port:
CASES
sed -i "s|dir: \"$rec\"|dir: /etc/passwd|" "$cfg"
hup_wait "reload failed"
tail -1 "$WORK/agent.log" | grep -q "$cfg:3: exporters.records.dir: /etc/passwd is not a directory" ||
  fail "dir: /etc/passwd not refused at its line: $(tail -1 "$WORK/agent.log")"
ok "bad records sections and an unknown host: refused at FILE:LINE"

# 3. A FIFO in place of the file: refused at once (no reader waits on it).
write_cfg "127.0.0.1:$port" ""
mv "$cfg" "$cfg.good"
mkfifo "$cfg"
hup_wait "reload failed"
tail -1 "$WORK/agent.log" | grep -q "not a regular file" ||
  fail "FIFO config not refused as such: $(tail -1 "$WORK/agent.log")"
rm -f "$cfg"; mv "$cfg.good" "$cfg"
ok "FIFO config: refused without blocking"

b0=$(batches)
for _ in $(seq 1 30); do
  b1=$(batches); [ "${b1%.*}" -gt "${b0%.*}" ] && break; sleep 0.1
done
[ "${b1%.*}" -gt "${b0%.*}" ] || fail "record batches stopped after refused reloads ($b0 -> $b1)"
[ "$(files)" = 1 ] || fail "refused reloads rotated the record file: $(ls "$rec")"

# 4. Twenty reloads that change nothing in records: still one file, the
#    same one.
for i in $(seq 1 20); do hup_wait "configuration reloaded"; done
[ "$(files)" = 1 ] && [ -f "$first" ] || fail "unchanged reloads rotated the record file: $(ls "$rec")"
ok "20 unchanged reloads: one record file"

# 5. An option of the endpoint changes, the address not: the port is handed
#    over, scrapes meanwhile all answer.
( end=$(( $(date +%s) + 4 )); bad=0
  while [ "$(date +%s)" -lt "$end" ]; do
    curl -fsS -o /dev/null --max-time 2 "$url" || bad=$((bad + 1))
  done; echo "$bad" > "$WORK/bad" ) &
scraper=$!
for lim in 10 20 30 40 50; do
  python3 - "$cfg" "$lim" <<'PY'
import sys, re
p, lim = sys.argv[1], sys.argv[2]
t = open(p).read()
t = re.sub(r"  prometheus: \{connection_limit: \d+\}\n", "", t)
t = t.replace("exporters:\n", "exporters:\n  prometheus: {connection_limit: %s}\n" % lim, 1)
open(p, "w").write(t)
PY
  hup_wait "configuration reloaded"
done
wait "$scraper"
[ "$(cat "$WORK/bad")" = 0 ] || fail "$(cat "$WORK/bad") scrapes failed while the endpoint restarted on its port"
[ "$(files)" = 1 ] || fail "endpoint-only reloads rotated the record file"
ok "5 endpoint restarts on the same port: no scrape failed"

# 6. A move to a free port: the new one serves, the old one is closed.
np=$(free_port)
sed -i "s|^listen: .*|listen: \"127.0.0.1:$np\"|" "$cfg"
hup_wait "configuration reloaded"
wait_http "http://127.0.0.1:$np/metrics" 5 || fail "new port $np does not serve"
curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && fail "old port still open after the move"
url="http://127.0.0.1:$np/metrics"

# 7. The same address by another name: the server goes on, the port open.
scrape_loop() { # scrape_loop SECONDS URL...: failures counted into $WORK/bad
  local end=$(( $(date +%s) + $1 )) bad=0 u; shift
  while [ "$(date +%s)" -lt "$end" ]; do
    for u in "$@"; do curl -fsS -o /dev/null --max-time 2 "$u" || bad=$((bad + 1)); done
  done; echo "$bad" > "$WORK/bad"
}
relisten() { sed -i "s|^listen: .*|listen: \"$1\"|" "$cfg"; hup_wait "configuration reloaded"; }
relisten "localhost:$np"
curl -fsS -o /dev/null --max-time 2 "$url" || fail "localhost:$np: 127.0.0.1:$np closed"
ok "127.0.0.1:$np -> localhost:$np: reloaded, the port serves"

# 8. Only the host changes, on the same port (0.0.0.0 and 127.0.0.1 overlap):
#    the old socket stops listening, the new one binds, the old one closes
#    after the switch. A connect in that gap (the rest of the reload) is refused, so
#    the scrapes here retry once; none may fail. After each switch no other
#    process of our user may join the port with SO_REUSEPORT (the agent
#    never sets it: the kernel would remember it for the socket's life).
thief() { # thief HOST: binding HOST:$np with SO_REUSEPORT must be refused
  python3 - "$1" "$np" <<'PY' || fail "$1:$np: another process joined the agent's port with SO_REUSEPORT"
import errno, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
except OSError as e:
    sys.exit(0 if e.errno == errno.EADDRINUSE else 2)
sys.exit(1)
PY
}
scrape_loop_retry() { # as scrape_loop, one retry for the switch's gap
  local end=$(( $(date +%s) + $1 )) bad=0 u; shift
  while [ "$(date +%s)" -lt "$end" ]; do
    for u in "$@"; do
      curl -fsS -o /dev/null --max-time 2 --retry 1 --retry-all-errors --retry-delay 1 "$u" ||
        bad=$((bad + 1))
    done
  done; echo "$bad" > "$WORK/bad"
}
scrape_loop_retry 3 "$url" & scraper=$!
relisten "0.0.0.0:$np"
wait_http "http://127.0.0.2:$np/metrics" 5 || fail "0.0.0.0:$np does not serve 127.0.0.2"
thief 0.0.0.0
relisten "127.0.0.1:$np"
wait "$scraper"
[ "$(cat "$WORK/bad")" = 0 ] || fail "$(cat "$WORK/bad") scrapes failed through the host changes"
curl -fsS -o /dev/null --max-time 1 "http://127.0.0.2:$np/metrics" 2>/dev/null &&
  fail "0.0.0.0:$np still open after the move to 127.0.0.1:$np"
thief 127.0.0.1
ok "0.0.0.0:$np <-> 127.0.0.1:$np: switched, no scrape failed, no SO_REUSEPORT joiner"

# 9. The new server fails to start after its socket is prepared (two free
#    descriptors: the config load needs both, then the socket takes one and
#    the server needs two): the running one serves on, the new socket is
#    closed, the log says so.
need prlimit
nfd() { ls "/proc/$AGENT_PID/fd" | wc -l; }
squeeze() { # squeeze: two descriptor numbers free (what loading the config needs at once)
  local lim
  lim=$(ls "/proc/$AGENT_PID/fd" | python3 -c '
import sys
used = {int(l) for l in sys.stdin}
free = [n for n in range(max(used) + 4) if n not in used]
print(free[2])')
  prlimit --pid "$AGENT_PID" --nofile="$lim":
}
# failed_start LISTEN [SED-EXTRA] LOG-LINE: squeezed, a reload to LISTEN
# fails to start; the log says LOG-LINE, $url serves, no descriptor leaks.
failed_start() {
  squeeze
  sed -i "s|^listen: .*|listen: \"$1\"|${2:+; $2}" "$cfg"
  hup_wait "did not start"
  prlimit --pid "$AGENT_PID" --nofile=4096:
  grep -q "$3" "$WORK/agent.log" || fail "no '$3': $(tail -4 "$WORK/agent.log")"
  curl -fsS -o /dev/null --max-time 2 "$url" || fail "$1: the running port closed when the new server failed"
  # (the scrape's own connection may still be closing: up to 2 s)
  for _ in $(seq 20); do [ "$(nfd)" = "$fd0" ] && break; sleep 0.1; done
  [ "$(nfd)" = "$fd0" ] || fail "$1: descriptors $fd0 -> $(nfd) after the failed start: $(ls -l "/proc/$AGENT_PID/fd" | tail -n +2 | awk '{print $NF}' | tr '\n' ' ')"
}
fd0=$(nfd)
move=$(free_port)
failed_start "127.0.0.1:$move" "" \
  "the new server on 127.0.0.1:$move did not start: its new socket is closed; the running one goes on serving 127.0.0.1:$np"
curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$move/metrics" 2>/dev/null &&
  fail "the new socket on $move was left open"
failed_start "127.0.0.1:$np" "s/connection_limit: [0-9]*/connection_limit: 77/" \
  "the new server on 127.0.0.1:$np did not start: the running one goes on serving its socket, which stays open"
# The next reload, with room, starts the new config's server.
sed -i "s|^listen: .*|listen: \"127.0.0.1:$move\"|" "$cfg"
hup_wait "configuration reloaded"
wait_http "http://127.0.0.1:$move/metrics" 5 || fail "the next reload did not start the new server"
curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && fail "old port $np open after the next reload"
url="http://127.0.0.1:$move/metrics"
ok "a new server that fails to start: the running one serves on, its socket closed"

# SIGTERM is honoured.
kill -TERM "$AGENT_PID"
for _ in $(seq 1 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$AGENT_PID" 2>/dev/null && fail "SIGTERM not honoured"
wait "$AGENT_PID"; rc=$?
[ "$rc" = 0 ] || fail "exit status $rc"
ok "moved to port $np; SIGTERM ends it (status 0)"
