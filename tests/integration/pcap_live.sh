#!/bin/bash
# The pcap collector on a live capture: two network namespaces joined by a
# veth pair; the agent runs in the first and captures its end; known UDP
# datagrams go both ways and a known TCP stream comes in; the agent's
# per-peer counts must match, short only by the drops it reports. First,
# without CAP_NET_RAW (as nobody): one clear error line, and the agent goes
# on without the collector. Skips with the reason when namespaces cannot
# be made (no root, a container without CAP_SYS_ADMIN).
. "$(dirname "$0")/lib.sh"
need python3
need curl
need ip

# ---- no CAP_NET_RAW ----
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  printf 'collectors:\n  pcap: {interfaces: [lo]}\n' > "$WORK/lo.yaml"
  chmod 755 "$WORK"; chmod 644 "$WORK/lo.yaml"
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
    "$ACCELMON" --once --config "$WORK/lo.yaml" > "$WORK/nocap.prom" 2>"$WORK/nocap.err" ||
    fail "without CAP_NET_RAW the agent did not go on: $(cat "$WORK/nocap.err")"
  [ "$(grep -c 'pcap' "$WORK/nocap.err")" = 1 ] || fail "not one pcap line: $(cat "$WORK/nocap.err")"
  grep -q 'pcap: .*cannot capture on lo: permission denied (needs CAP_NET_RAW' "$WORK/nocap.err" ||
    fail "no CAP_NET_RAW line: $(cat "$WORK/nocap.err")"
  grep -q '^accelmon_collector_up{collector="pcap"} 0$' "$WORK/nocap.prom" ||
    fail "accelmon_collector_up of pcap is not 0"
  ok "without CAP_NET_RAW: one error line, collector down, agent on"
fi

# ---- two namespaces and a veth pair ----
A=ampa$$ B=ampb$$
if ! ip netns add "$A" 2>"$WORK/netns.err"; then
  skip "cannot create a network namespace: $(head -1 "$WORK/netns.err")"
fi
ip netns add "$B" || { ip netns del "$A"; skip "cannot create a second network namespace"; }
trap 'cleanup; ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null' EXIT
ip link add va$$ netns "$A" type veth peer name vb$$ netns "$B" 2>"$WORK/veth.err" ||
  skip "cannot create a veth pair: $(head -1 "$WORK/veth.err")"
for n in "$A" "$B"; do
  # no IPv6: its neighbour discovery and MLD frames would add peers
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null
  ip -n "$n" link set lo up
done
ip -n "$A" addr add 10.77.0.1/24 dev va$$ && ip -n "$A" link set va$$ up &&
  ip -n "$B" addr add 10.77.0.2/24 dev vb$$ && ip -n "$B" link set vb$$ up ||
  fail "cannot set up the veth pair"
inA() { ip netns exec "$A" "$@"; }
inB() { ip netns exec "$B" "$@"; }

PORT=9464
cat > "$WORK/agent.yaml" <<EOC
listen: 127.0.0.1:$PORT
collectors:
  netdev: {enabled: false}
  pcap: {interfaces: [va$$], interval: 250ms, node: node-a}
EOC
ip netns exec "$A" "$ACCELMON" --config "$WORK/agent.yaml" >"$WORK/agent.out" 2>"$WORK/agent.log" &
APID=$!; PIDS="$PIDS $APID"
scrape() { inA curl -fsS --max-time 2 "http://127.0.0.1:$PORT/metrics" 2>/dev/null; }
# metric VALUE of the first line matching a regex (0 when absent)
value() { scrape | grep -E "$1" | head -1 | awk '{ print $2 }' | grep . || echo 0; }
wait_for() { # REGEX MIN SECONDS
  local deadline=$(( $(date +%s) + $3 ))
  while [ "$(date +%s)" -le "$deadline" ]; do
    v=$(value "$1"); [ "${v%.*}" -ge "$2" ] 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
wait_for "^fabric_pcap_capturing\\{device=\"va$$\"\\}" 1 20 ||
  fail "the agent does not capture on va$$: $(tail -5 "$WORK/agent.log")"
scrape | grep -q "^fabric_peer_address_info{device=\"va$$\",address=\"10.77.0.1\",node=\"node-a\"} 1" ||
  fail "no fabric_peer_address_info for 10.77.0.1"

# ---- traffic: 200 x 1000-byte datagrams in, 100 x 500 out, 1 MB of TCP in ----
inA python3 - "$WORK/sink.port" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.1", 5001)); s.listen(1)
open(sys.argv[1], "w").write("ready")
c, _ = s.accept()
n = 0
while True:
    b = c.recv(65536)
    if not b: break
    n += len(b)
print("tcp sink: %d bytes" % n)
PY
SINK=$!
PIDS="$PIDS $SINK"
for _ in $(seq 50); do [ -s "$WORK/sink.port" ] && break; sleep 0.1; done
# TCP first: its handshake resolves ARP both ways, so no datagram waits in
# (or is dropped from) a neighbour queue
inB python3 -c '
import socket
t = socket.create_connection(("10.77.0.1", 5001))
t.sendall(b"y" * 1000000); t.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(200): u.sendto(b"x" * 1000, ("10.77.0.1", 9999))' || fail "sending from $B"
inA python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(100): u.sendto(b"z" * 500, ("10.77.0.2", 9998))' || fail "sending from $A"
wait "$SINK" || fail "the TCP sink"

P='device="va'$$'",peer="10.77.0.2"'
drops() { scrape | grep -E '^fabric_pcap_dropped_packets_total' | awk '{ s += $2 } END { print s + 0 }'; }
# UDP: every datagram counted, each 1042 bytes in (14 + 20 + 8 + 1000) and
# 542 out, unless the capture reports it dropped
wait_for "^fabric_peer_receive_packets_total\\{$P,protocol=\"udp\"\\}" 200 15
wait_for "^fabric_peer_transmit_packets_total\\{$P,protocol=\"udp\"\\}" 100 15
wait_for "^fabric_peer_receive_bytes_total\\{$P,protocol=\"tcp\"\\}" 1000000 15
scrape > "$WORK/final.prom"
d=$(drops)
get() { grep -E "^$1\\{$P,protocol=\"$2\"\\}" "$WORK/final.prom" | awk '{ print $2 }' | grep . || echo 0; }
rxp=$(get fabric_peer_receive_packets_total udp); rxb=$(get fabric_peer_receive_bytes_total udp)
txp=$(get fabric_peer_transmit_packets_total udp); txb=$(get fabric_peer_transmit_bytes_total udp)
[ "$rxp" -le 200 ] && [ "$rxp" -ge $((200 - d)) ] || fail "UDP in: $rxp packets of 200 (drops reported: $d)"
[ "$rxb" = $((rxp * 1042)) ] || fail "UDP in: $rxb bytes for $rxp packets (want $((rxp * 1042)))"
[ "$txp" -le 100 ] && [ "$txp" -ge $((100 - d)) ] || fail "UDP out: $txp packets of 100 (drops: $d)"
[ "$txb" = $((txp * 542)) ] || fail "UDP out: $txb bytes for $txp packets"
# TCP: the payload plus 54-100 bytes of headers (Ethernet, IP, TCP with
# options) per captured segment; ACKs go out. A slow run (a sanitizer
# build) may retransmit segments, which are traffic too: up to twice the
# payload then.
tb=$(get fabric_peer_receive_bytes_total tcp); tp=$(get fabric_peer_receive_packets_total tcp)
ta=$(get fabric_peer_transmit_packets_total tcp)
if [ "$d" = 0 ]; then
  [ "$tb" -ge $((1000000 + 54 * tp)) ] && [ "$tb" -le $((2000000 + 100 * tp)) ] ||
    fail "TCP in: $tb bytes in $tp packets for 1,000,000 bytes of payload"
fi
[ "$ta" -ge 1 ] || fail "TCP out: no ACKs counted"
promtool check metrics < "$WORK/final.prom" >/dev/null 2>&1 || [ -z "$(command -v promtool)" ] ||
  fail "promtool check metrics"
ok "veth capture: UDP in $rxp x 1042 B, out $txp x 542 B, TCP in $tb B / $tp packets, $ta ACK packets out, drops $d"

# ---- the interface goes away and comes back: the dead handle is closed
# (capturing 0, the counters kept) and reopened with a back-off ----
ip -n "$A" link del va$$ || fail "cannot delete va$$"
deadline=$(( $(date +%s) + 15 ))
until scrape | grep -q "^fabric_pcap_capturing{device=\"va$$\"} 0$"; do
  [ "$(date +%s)" -le "$deadline" ] || fail "fabric_pcap_capturing stays 1 after va$$ is gone"
  sleep 0.2
done
before=$(value "^fabric_peer_receive_packets_total\\{$P,protocol=\"udp\"\\}")
[ "$before" = "$rxp" ] || fail "UDP in went from $rxp to $before while va$$ was gone"
ip link add va$$ netns "$A" type veth peer name vb$$ netns "$B" &&
  ip -n "$A" addr add 10.77.0.1/24 dev va$$ && ip -n "$A" link set va$$ up &&
  ip -n "$B" addr add 10.77.0.2/24 dev vb$$ && ip -n "$B" link set vb$$ up ||
  fail "cannot recreate the veth pair"
wait_for "^fabric_pcap_capturing\\{device=\"va$$\"\\}" 1 20 ||
  fail "the capture on va$$ was not reopened: $(tail -3 "$WORK/agent.log")"
grep -q "va$$: capture failed" "$WORK/agent.log" || fail "no log line for the dead capture"
# ARP first (ping), then 50 datagrams in
inB ping -c 1 -W 2 10.77.0.1 >/dev/null 2>&1 || true
inB python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(50): u.sendto(b"x" * 1000, ("10.77.0.1", 9999))' || fail "sending from $B again"
wait_for "^fabric_peer_receive_packets_total\\{$P,protocol=\"udp\"\\}" $((rxp + 50)) 15
after=$(value "^fabric_peer_receive_packets_total\\{$P,protocol=\"udp\"\\}")
d2=$(drops)
[ "$after" -le $((rxp + 50)) ] && [ "$after" -ge $((rxp + 50 - d2)) ] ||
  fail "after the reopen: UDP in $after, want $((rxp + 50)) (drops: $d2)"
[ "$(drops)" -ge "$d" ] || fail "drop counters went backwards across the reopen"
ok "interface deleted and recreated: capturing 0 then 1, UDP in $rxp -> $after"

# ---- a reload refused after the capture handles were opened (its listen
# address is taken): the handles opened for it close, the running capture
# goes on. The namespace's packet sockets are all the agent's. ----
psocks() { inA cat /proc/net/packet | tail -n +2 | wc -l; }
before=$(psocks)
inA python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",9465)); s.listen(1); time.sleep(30)' &
taker=$!; PIDS="$PIDS $taker"
until inA python3 -c 'import socket; socket.create_connection(("127.0.0.1",9465),1)' 2>/dev/null; do sleep 0.05; done
sed -i "s|^listen: .*|listen: 127.0.0.1:9465|; s|interfaces: \[va$$\]|interfaces: [va$$, lo]|" "$WORK/agent.yaml"
for n in 1 2 3; do
  kill -HUP "$APID"
  deadline=$(( $(date +%s) + 10 ))
  until [ "$(grep -c 'reload failed' "$WORK/agent.log")" -ge "$n" ]; do
    [ "$(date +%s)" -le "$deadline" ] || fail "reload $n was not refused: $(tail -2 "$WORK/agent.log")"
    sleep 0.05
  done
done
[ "$(psocks)" = "$before" ] ||
  fail "packet sockets $before -> $(psocks) after 3 refused reloads adding lo"
kill "$taker" 2>/dev/null
[ "$(value "^fabric_pcap_capturing\\{device=\"va$$\"\\}")" = 1 ] || fail "va$$ stopped capturing"
ok "3 refused reloads adding lo: packet sockets stay $before, va$$ captures on"
