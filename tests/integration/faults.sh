#!/bin/bash
# Fault injection: sysfs files vanishing between polls, and a full disk
# under records (a small tmpfs, where the test may mount one). Each time the
# agent keeps serving a valid exposition, reports the fault in its own
# metrics, and loses nothing beyond the documented bound (the batches
# counted in accelmon_records_dropped_batches_total). The other faults of
# issue 16 have their own tests, each with the same three assertions: a hung
# collector is watchdog.sh, a GPU lost mid-run (and back) nvml_scenarios.sh
# and ascend_scenarios.sh, SIGHUP with each broken config reload_safe.sh, a
# receiver that is down remote_write_outage.sh, one that resets connections
# or answers too slowly remote_write_errors.sh, a full spool
# remote_write_disk_full.sh.
. "$(dirname "$0")/lib.sh"
need curl

port=$(free_port)
url="http://127.0.0.1:$port/metrics"
val() { curl -fsS --max-time 2 "$url" | awk -v k="$1" 'index($0, k " ") == 1 { print $2 }'; }
# wait_val KEY MIN [SECONDS]: until the metric KEY is at least MIN.
wait_val() {
  local v
  for _ in $(seq 1 $((${3:-10} * 10))); do
    v=$(val "$1"); [ -n "$v" ] && awk -v a="$v" -v b="$2" 'BEGIN{exit !(a >= b)}' && return 0
    sleep 0.1
  done
  fail "$1 stayed at '${v:-absent}' (wanted >= $2): $(tail -3 "$WORK/agent.log")"
}
valid() {
  curl -fsS --max-time 2 "$url" >"$WORK/m.prom" || fail "scrape failed during the fault"
  if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$WORK/m.prom" >"$WORK/lint" 2>&1 ||
      fail "exposition during the fault: $(head -5 "$WORK/lint")"
  fi
}

# ---- 1. sysfs files vanish between polls ----
cp -r "$FIXTURES/netdev/sys" "$WORK/sys"
cat >"$WORK/n.yaml" <<YAML
collectors:
  netdev: {interval: 100ms, rescan: 300ms}
  sim: {devices: 1, interval: 100ms}
YAML
start_agent --config "$WORK/n.yaml" --sysfs "$WORK/sys" --listen "127.0.0.1:$port"
wait_http "$url" || fail "agent did not come up: $(cat "$WORK/agent.log")"
e='accelmon_collector_read_errors_total{collector="netdev"}'
wait_val 'fabric_netdev_up{device="eth0"}' 1
e0=$(val "$e"); e0=${e0:-0}
# A counter file garbled between polls (a driver in a bad state): counted
# as a read error, its series left out, the rest reported.
printf 'garbage\n' >"$WORK/sys/class/net/eth0/statistics/tx_bytes"
wait_val "$e" $((e0 + 1)) 5
# (its last value stays for the staleness window of three intervals)
for _ in $(seq 1 50); do
  curl -fsS --max-time 2 "$url" | grep -q '^fabric_netdev_transmit_bytes_total{device="eth0"}' || break
  sleep 0.1
done
valid
grep -q '^fabric_netdev_transmit_bytes_total{device="eth0"}' "$WORK/m.prom" &&
  fail "a garbled counter is still reported 5 s later"
grep -q '^fabric_netdev_receive_bytes_total{device="eth0"}' "$WORK/m.prom" ||
  fail "the other counters of eth0 went too"
[ "$(val 'accelmon_collector_up{collector="netdev"}')" = 1 ] || fail "netdev reported down for one bad file"
ok "a garbled counter file: read errors $e0 -> $(val "$e"), the rest of eth0 reported, exposition valid"
# (On sysfs a file of a removed device reads ENODEV through the open
# descriptor; a removed regular file would go on reading its old content,
# so the fixture removes the whole interface, as the kernel does.)
# The whole interface goes (a port unplugged): its series go at the next
# rescan, the other interfaces and collectors stay.
fds0=$(ls /proc/"$AGENT_PID"/fd | wc -l)
rm -rf "$WORK/sys/class/net/eth0"
for _ in $(seq 1 50); do
  curl -fsS --max-time 2 "$url" | grep -q 'device="eth0"' || break
  sleep 0.1
done
curl -fsS --max-time 2 "$url" >"$WORK/m.prom"
grep -q 'device="eth0"' "$WORK/m.prom" && fail "eth0 series still there 5 s after it vanished"
grep -q "^fabric_netdev_up{device=\"ib0\"} " "$WORK/m.prom" || fail "ib0 went with eth0"
grep -q '^accel_up{' "$WORK/m.prom" || fail "sim series went with eth0"
valid
fds1=$(ls /proc/"$AGENT_PID"/fd | wc -l)
[ "$fds1" -lt "$fds0" ] || fail "the vanished interface's files stay open ($fds0 -> $fds1 fds)"
ok "an interface vanished: its series gone at the rescan, its files closed ($fds0 -> $fds1 fds), ib0 and sim still served"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "exit status $? after the sysfs faults"

# ---- 2. ENOSPC under records ----
[ "$(id -u)" = 0 ] || skip "the full-disk part needs root to mount a small tmpfs"
mkdir -p "$WORK/rec"
mount -t tmpfs -o size=256k tmpfs "$WORK/rec" 2>/dev/null || skip "cannot mount a tmpfs here"
trap 'kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null
      umount "$WORK/rec" 2>/dev/null; cleanup' EXIT
# Room for a few batches only; the filler is removed later to make room.
dd if=/dev/zero of="$WORK/rec/filler" bs=1k count=236 2>/dev/null
cat >"$WORK/r.yaml" <<YAML
collectors:
  netdev: {enabled: false}
  sim: {devices: 64, interval: 100ms}
exporters:
  records: {dir: "$WORK/rec", interval: 100ms, fsync_interval: 0s}
YAML
start_agent --config "$WORK/r.yaml" --listen "127.0.0.1:$port"
wait_http "$url" || fail "agent did not come up: $(cat "$WORK/agent.log")"
wait_val accelmon_records_dropped_batches_total 5 20
valid
grep -q "records: .*No space left on device; pausing" "$WORK/agent.log" || fail "ENOSPC not logged: $(tail -3 "$WORK/agent.log")"
w=$(val accelmon_records_write_errors_total)
nfull=$(find "$WORK/rec" -name '*.amrec' | wc -l)
[ "$nfull" -le 1 ] || fail "$nfull record files while the disk is full (retries must leave none): $(ls -la "$WORK/rec")"
ok "disk full: $(val accelmon_records_dropped_batches_total) batches dropped, $w write errors, $nfull file(s), still serving"

rm -f "$WORK/rec/filler"
b0=$(val accelmon_records_batches_total)
wait_val accelmon_records_batches_total $((b0 + 5)) 10
grep -q "records: .*writing again; [0-9]* batches were lost" "$WORK/agent.log" || fail "resume not logged"
sleep 0.3
b=$(val accelmon_records_batches_total); d=$(val accelmon_records_dropped_batches_total)
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || fail "exit status $? after the full disk"
"$ABS_BUILDDIR/accelmon-audit" --format json "$WORK/rec" >"$WORK/audit.json" 2>"$WORK/audit.err" ||
  fail "audit: $(cat "$WORK/audit.err")"
got=$(sed -n 's/.*"batches": \([0-9]*\),.*/\1/p' "$WORK/audit.json" | head -1)
grep -q '"corrupt_regions": 0, "corrupt_bytes": 0, "torn_tails": 0' "$WORK/audit.json" ||
  fail "damaged frames after the full disk: $(grep '"input"' "$WORK/audit.json")"
# Every batch counted as written is in the files (with those written
# between that scrape and the shutdown): only the counted drops are lost.
[ "$got" -ge "$b" ] && [ "$got" -le $((b + 50)) ] ||
  fail "files hold $got batches, the agent counted $b written ($d dropped)"
n=0
for f in "$WORK"/rec/*.amrec; do
  n=$((n + 1))
  # the header is one frame: a file of one frame is a retry's header-only file
  "$ABS_BUILDDIR/accelmon-audit" --format json "$f" 2>/dev/null | grep -q '"frames": \([2-9]\|[1-9][0-9]\)' ||
    fail "$f is only a header (a retry's): $("$ABS_BUILDDIR/accelmon-audit" --format json "$f" 2>&1 | grep '"input"')"
done
[ "$n" = $((nfull + 1)) ] || fail "$n record files (want $((nfull + 1)): before and after the full disk)"
ok "room again: $got batches in $n files, all $b counted as written; $d dropped and counted"
