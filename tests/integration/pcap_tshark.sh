#!/bin/bash
# Cross-check of the pcap collector with tshark: on a generated capture (TCP,
# UDP, RoCEv2, VLAN and QinQ tags, IPv4 and IPv6, 200 peers), the agent's
# per-peer byte totals (transmit and receive, summed over protocols) equal
# what tshark's own dissectors compute from ip/ipv6 addresses and
# frame.len; again after editcap turned the file into pcapng; and with a
# top K of 10 the named peers keep their figures while peer="other" holds
# exactly the rest.
. "$(dirname "$0")/lib.sh"
need tshark
need editcap
need promtool
GEN="$ABS_BUILDDIR/tests/pcap_gen"
[ -x "$GEN" ] || skip "tests/pcap_gen not built (configure found no libpcap)"
"$GEN" "$WORK/mix.pcap" 20000 200 || fail "pcap_gen"
editcap -F pcapng "$WORK/mix.pcap" "$WORK/mix.pcapng" || fail "editcap -F pcapng"

# tshark: "tx PEER BYTES" and "rx PEER BYTES" per peer of local 10.0.0.1 / fd00::1
tshark -r "$WORK/mix.pcap" -T fields -E separator=/t -e ip.src -e ip.dst \
    -e ipv6.src -e ipv6.dst -e frame.len 2>"$WORK/tshark.err" |
  awk -F'\t' '{ s = $1 != "" ? $1 : $3; d = $1 != "" ? $2 : $4
      if (s == "10.0.0.1" || s == "fd00::1") tx[d] += $5; else rx[s] += $5 }
    END { for (p in tx) print "tx", p, tx[p]; for (p in rx) print "rx", p, rx[p] }' |
  sort > "$WORK/tshark.sums" || fail "tshark: $(cat "$WORK/tshark.err")"
[ "$(wc -l < "$WORK/tshark.sums")" -gt 300 ] || fail "tshark found only $(wc -l < "$WORK/tshark.sums") peer sums"

# agent: the same sums from its exposition
# (timeout: the first poll replays the whole file; under ThreadSanitizer on
# a loaded machine that outran the 1 s deadline, and an overrun poll's
# figures are not reported)
agent_sums() { # FILE TOP_K -> tx/rx PEER BYTES, sorted
  cat > "$WORK/pcap.yaml" <<EOC
collectors:
  pcap: {file: "$1", local_addresses: [10.0.0.1, "fd00::1"], top_k: $2, node: n1, timeout: 60s}
EOC
  "$ACCELMON" --once --config "$WORK/pcap.yaml" --sysfs "$WORK/nosys" > "$WORK/once.prom" 2>"$WORK/once.err" ||
    fail "accelmon --once: $(cat "$WORK/once.err")"
  promtool check metrics < "$WORK/once.prom" > "$WORK/promtool.out" 2>&1 ||
    fail "promtool check metrics: $(cat "$WORK/promtool.out")"
  sed -n 's/^fabric_peer_\(transmit\|receive\)_bytes_total{device="[^"]*",peer="\([^"]*\)",protocol="[a-z0-9]*"} \([0-9]*\)$/\1 \2 \3/p' \
      "$WORK/once.prom" |
    awk '{ k = ($1 == "transmit" ? "tx" : "rx") " " $2; s[k] += $3 } END { for (k in s) print k, s[k] }' | sort
}
mkdir -p "$WORK/nosys"
agent_sums "$WORK/mix.pcap" 10000 > "$WORK/agent.sums"
diff "$WORK/tshark.sums" "$WORK/agent.sums" > "$WORK/diff" ||
  fail "per-peer bytes differ from tshark (< tshark, > agent): $(head -20 "$WORK/diff")"
ok "$(wc -l < "$WORK/agent.sums") per-peer byte totals equal tshark's (pcap)"
agent_sums "$WORK/mix.pcapng" 10000 > "$WORK/agent.ng.sums"
diff "$WORK/tshark.sums" "$WORK/agent.ng.sums" > "$WORK/diff" ||
  fail "pcapng: per-peer bytes differ from tshark: $(head -20 "$WORK/diff")"
ok "the same from the pcapng copy"

# top 10: named peers as tshark says, "other" the rest of each direction
agent_sums "$WORK/mix.pcap" 10 > "$WORK/agent.top.sums"
named=$(grep -vc ' other ' "$WORK/agent.top.sums")
[ "$named" -ge 10 ] && [ "$named" -le 20 ] || fail "top 10: $named named peer sums"
grep -v ' other ' "$WORK/agent.top.sums" | while read -r dir peer bytes; do
  grep -qx "$dir $peer $bytes" "$WORK/tshark.sums" || fail "top 10: $dir $peer $bytes is not tshark's"
done || exit 1
for dir in tx rx; do
  total=$(awk -v d=$dir '$1 == d { s += $3 } END { print s }' "$WORK/tshark.sums")
  agent=$(awk -v d=$dir '$1 == d { s += $3 } END { print s }' "$WORK/agent.top.sums")
  [ "$total" = "$agent" ] || fail "top 10, $dir: named + other = $agent, tshark total $total"
done
ok "top 10: named peers equal tshark's, named + other = tshark's totals"

# Config errors are found at load (exit 2, FILE:LINE), not by a collector
# that stays off: an address that is none, a filter libpcap cannot compile,
# a replay without this node's addresses.
bad_config() { # WANT-MESSAGE YAML...
  local want=$1; shift
  printf '%s\n' "$@" > "$WORK/bad.yaml"
  "$ACCELMON" --once --config "$WORK/bad.yaml" --sysfs "$WORK/nosys" >/dev/null 2>"$WORK/bad.err"
  local rc=$?
  [ "$rc" = 2 ] || fail "want exit 2 for '$want', got $rc: $(cat "$WORK/bad.err")"
  grep -qF "$want" "$WORK/bad.err" || fail "want '$want', got: $(cat "$WORK/bad.err")"
}
bad_config "bad.yaml:4: collectors.pcap.local_addresses[1]: \"10.0.0.300\" is not an IPv4 or IPv6 address" \
  "collectors:" "  pcap:" "    file: $WORK/mix.pcap" "    local_addresses: [10.0.0.1, 10.0.0.300]"
bad_config "bad.yaml:4: collectors.pcap.filter: can't parse filter expression" \
  "collectors:" "  pcap:" "    interfaces: [lo]" "    filter: \"udp port\""
bad_config "bad.yaml:2: collectors.pcap.local_addresses: a file replay needs" \
  "collectors:" "  pcap:" "    file: $WORK/mix.pcap"
ok "config errors at load: address, filter, replay without local addresses"
