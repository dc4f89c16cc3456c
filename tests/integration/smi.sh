#!/bin/bash
# The smi collector in the agent, against the fake vendor tools
# (tests/fake_smi): every built-in profile's values in the exposition, bad
# output of several kinds, a user profile from YAML only for a tool no
# built-in knows, and a slow and a hung tool (whose child holds stdout)
# while the agent keeps serving: each run killed at its timeout, no zombie,
# no descriptor leaked, no process left. promtool checks every exposition.
. "$(dirname "$0")/lib.sh"
need curl
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
[ -x "$PROMTOOL" ] || skip "promtool is not installed"
need python3

tools=$WORK/tools
mkdir -p "$tools"
for f in "$ABS_SRCDIR"/tests/fake_smi/*; do ln -s "$f" "$tools/"; done

lint() { # FILE WHAT
  "$PROMTOOL" check metrics <"$1" >"$WORK/lint" 2>&1 ||
    { cat "$WORK/lint"; fail "promtool check metrics on $2"; }
}
has() { # FILE LINE-REGEX WHAT
  grep -Eq "$2" "$1" || fail "$3: no line matching $2 in $(grep -c . "$1") lines"
}
hasnt() {
  grep -Eq "$2" "$1" && fail "$3: unexpected $(grep -E "$2" "$1" | head -1)"
  return 0
}

# ---- config errors: FILE:LINE: path, exit 2 ----
printf 'collectors:\n  smi:\n    profiles:\n      mychip:\n        command: [x]\n        format: csv\n        device_prefix: m\n        fields:\n          power.draw: {metric: power, unit: MiB}\n' >"$WORK/bad1.yaml"
"$ACCELMON" --config "$WORK/bad1.yaml" --once >/dev/null 2>"$WORK/bad1.err"; rc=$?
[ "$rc" = 2 ] || fail "a bad profile: exit $rc"
has "$WORK/bad1.err" "^accelmon: $WORK/bad1.yaml:9: collectors.smi.profiles.mychip.fields.power.draw.unit: 'MiB' is not a unit of power$" "bad profile line"
printf 'collectors:\n  smi:\n    tools: [ixsmi, nosuch]\n' >"$WORK/bad2.yaml"
"$ACCELMON" --config "$WORK/bad2.yaml" --once >/dev/null 2>"$WORK/bad2.err"; rc=$?
[ "$rc" = 2 ] || fail "an unknown tool: exit $rc"
has "$WORK/bad2.err" "^accelmon: $WORK/bad2.yaml:3: collectors.smi.tools\[1\]: no profile named 'nosuch'" "unknown tool line"
ok "config errors at their lines"

# ---- every built-in profile, one --once ----
cat >"$WORK/all.yaml" <<YAML
collectors:
  netdev: {enabled: false}
  infiniband: {enabled: false}
  smi: {search_path: [$tools], interval: 10s}  # a roomy poll budget on a loaded machine
YAML
timeout 60 "$ACCELMON" --once --config "$WORK/all.yaml" >"$WORK/all.prom" 2>"$WORK/all.err" ||
  fail "--once: $(cat "$WORK/all.err")"
lint "$WORK/all.prom" "every built-in profile"
for dev in iluvatar gaudi biren mthreads enflame cambricon metax kunlunxin ascend; do
  has "$WORK/all.prom" "^accel_utilization_ratio\{device=\"${dev}0\",uuid=\"[^\"]*\"\} 0.37$" "$dev util"
  has "$WORK/all.prom" "^accel_utilization_ratio\{device=\"${dev}1\",uuid=\"[^\"]*\"\} 0.05$" "$dev util"
  has "$WORK/all.prom" "^accel_temperature_celsius\{device=\"${dev}1\",uuid=\"[^\"]*\",sensor=\"[a-z]+\"\} 35$" "$dev temperature"
  has "$WORK/all.prom" "^accel_up\{device=\"${dev}0\",uuid=\"[^\"]*\"\} 1$" "$dev up"
  hasnt "$WORK/all.prom" "^accel_power_watts\{device=\"${dev}1\"" "${dev}1 power is N/A"
done
for dev in gaudi biren mthreads enflame cambricon metax kunlunxin; do
  has "$WORK/all.prom" "^accel_memory_used_bytes\{device=\"${dev}1\",uuid=\"[^\"]*\"\} 2147483648$" "$dev memory"
done
has "$WORK/all.prom" '^accel_power_watts\{device="iluvatar0",uuid="0000:17:00.0"\} 203.5$' "ixsmi power"
has "$WORK/all.prom" '^accel_info\{device="gaudi1",uuid="GPU-1b",vendor="habana",model="HL-225",serial="",pci_bus_id="0000:18:00.0",numa_node="",driver_version="1.17.0",firmware_version=""\} 1$' "hl-smi identity"
has "$WORK/all.prom" '^fabric_roce_pfc_frames_total\{device="ascend1",port="0",direction="receive"\} 4$' "hccn_tool PFC"
has "$WORK/all.prom" '^fabric_port_link_speed_bytes_per_second\{device="ascend0",port="0"\} 12500000000$' "hccn_tool speed"
has "$WORK/all.prom" '^fabric_port_up\{device="ascend1",port="0"\} 0$' "hccn_tool link"
for t in ixsmi hl-smi brsmi mthreads-gmi efsmi cnmon mx-smi xpu-smi npu-smi hccn_tool; do
  has "$WORK/all.prom" "^accelmon_collector_up\{collector=\"smi/$t\"\} 1$" "smi/$t up"
done
ok "10 built-in profiles: exact values, promtool clean"

# ---- bad output: still a valid exposition, bad values absent ----
cat >"$tools/fake_smi.mode" <<'MODE'
ixsmi na
hl-smi units
xpu-smi missing
brsmi garbage
efsmi partial
mthreads-gmi garbage
cnmon big
mx-smi fail
MODE
timeout 60 "$ACCELMON" --once --config "$WORK/all.yaml" >"$WORK/bad.prom" 2>"$WORK/bad.err" ||
  fail "--once on bad output: $(cat "$WORK/bad.err")"
lint "$WORK/bad.prom" "bad output"
hasnt "$WORK/bad.prom" '^accel_(utilization_ratio|temperature_celsius|power_watts)\{device="iluvatar' "N/A everywhere"
has "$WORK/bad.prom" '^accel_up\{device="iluvatar1",uuid=""\} 1$' "N/A: the device is still there (no bus id, so no uuid)"
hasnt "$WORK/bad.prom" '^accel_power_watts\{device="gaudi' "units that disagree"
has "$WORK/bad.prom" '^accel_memory_used_bytes\{device="gaudi0",uuid="GPU-0a"\} 1073741824$' "units that agree"
has "$WORK/bad.err" "smi/hl-smi: hl-smi: power.draw: unit 'MHz' is not of a power" "disagreeing unit logged"
has "$WORK/bad.prom" '^accel_utilization_ratio\{device="kunlunxin0",uuid=""\} 0.37$' "short row: the good one"
hasnt "$WORK/bad.prom" 'device="kunlunxin1"' "short row"
has "$WORK/bad.prom" '^accel_utilization_ratio\{device="biren1",uuid=""\} 0.05$' "garbage lines"
has "$WORK/bad.prom" '^accel_utilization_ratio\{device="enflame1",uuid=""\} 0.05$' "partial output, exit 3"
has "$WORK/bad.err" 'smi/efsmi: efsmi: exit status 3' "exit status logged"
has "$WORK/bad.err" 'smi/mthreads-gmi: mthreads-gmi: not JSON' "broken JSON"
has "$WORK/bad.err" 'smi/cnmon: cnmon: output beyond 1048576 bytes dropped' "10 MB capped"
has "$WORK/bad.prom" '^accelmon_collector_up\{collector="smi/mx-smi"\} 0$' "failing tool down"
has "$WORK/bad.err" 'smi/mx-smi: mx-smi said on stderr: mx-smi: cannot open the driver' "stderr logged"
ok "bad output: N/A, units, short rows, garbage, partial, broken JSON, 10 MB, failure"
rm -f "$tools/fake_smi.mode"

# ---- a tool killed at its timeout mid-line; a share above 1 ----
cat >"$WORK/part-smi" <<'SH'
#!/bin/sh
# device 0 whole, device 1 cut in the middle of its last number, then hung
echo "0 81 512"
echo "2 140 64"
printf '1 90 5'
exec sleep 30
SH
chmod +x "$WORK/part-smi"
cat >"$WORK/part.yaml" <<YAML
collectors:
  netdev: {enabled: false}
  infiniband: {enabled: false}
  smi:
    tools: []
    interval: 2s
    profiles:
      part:
        command: [$WORK/part-smi]
        format: columns
        device_prefix: part
        timeout: 1
        fields:
          "0": {index: true}
          "1": {metric: utilization, unit: "%"}
          "2": {metric: memory_used, unit: MiB}
YAML
"$ACCELMON" --once --config "$WORK/part.yaml" --sysfs "$WORK" >"$WORK/part.prom" 2>"$WORK/part.err"
has "$WORK/part.prom" '^accel_memory_used_bytes\{device="part0",uuid=""\} 536870912$' "whole line of a killed tool"
hasnt "$WORK/part.prom" 'device="part1"' "half line of a killed tool"
hasnt "$WORK/part.prom" 'accel_utilization_ratio\{device="part2"' "a share of 1.4"
has "$WORK/part.prom" '^accel_memory_used_bytes\{device="part2",uuid=""\} 67108864$' "the rest of that line"
lint "$WORK/part.prom" "killed tool"

# ---- a user profile from YAML only; a slow and a hung tool meanwhile ----
cat >"$WORK/mychip-smi" <<'SH'
#!/bin/sh
# a tool no built-in profile knows: "id;busy;mem" lines
echo "# mychip-smi 1.0"
echo "0 81 512"
echo "1 N/A 256"
SH
chmod +x "$WORK/mychip-smi"
printf 'efsmi slow\ncnmon hang\n' >"$tools/fake_smi.mode"
port=$(free_port)
url="http://127.0.0.1:$port/metrics"
cat >"$WORK/run.yaml" <<YAML
collectors:
  netdev: {enabled: false}
  infiniband: {enabled: false}
  sim: {devices: 1}
  smi:
    search_path: [$tools]
    tools: [efsmi, cnmon]
    interval: 1s
    profiles:
      # the same tool, deferring to a collector that reports devices (sim
      # stands for a vendor's library collector): it stays off
      shadow:
        command: [$WORK/mychip-smi]
        format: columns
        device_prefix: shadow
        defer_to: sim
        fields: {"0": {index: true}, "1": {metric: utilization, unit: "%"}}
      mychip:
        command: [$WORK/mychip-smi, --all]
        format: columns
        device_prefix: mychip
        vendor: acme
        fields:
          "0": {index: true}
          "1": {metric: utilization, unit: "%"}
          "2": {metric: memory_used, unit: MiB}
YAML
start_agent --config "$WORK/run.yaml" --listen "127.0.0.1:$port"
wait_http "$url" 15 || fail "agent did not come up: $(cat "$WORK/agent.log")"
for _ in $(seq 1 100); do
  curl -fsS --max-time 1 "$url" >"$WORK/run.prom" 2>/dev/null &&
    grep -q '^accel_utilization_ratio{device="mychip0"' "$WORK/run.prom" && break
  sleep 0.1
done
has "$WORK/run.prom" '^accel_utilization_ratio\{device="mychip0",uuid=""\} 0.81$' "user profile"
has "$WORK/run.prom" '^accel_memory_used_bytes\{device="mychip1",uuid=""\} 268435456$' "user profile memory"
hasnt "$WORK/run.prom" 'accel_utilization_ratio\{device="mychip1"' "user profile N/A"
has "$WORK/run.prom" '^accel_info\{device="mychip0",uuid="",vendor="acme"' "user profile vendor"
lint "$WORK/run.prom" "user profile"
hasnt "$WORK/run.prom" 'device="shadow' "a profile deferring to a running collector"
has "$WORK/agent.log" 'smi/shadow: off: the sim collector (reports|is starting for) these devices' "defer_to logged"
fds0=$(ls "/proc/$AGENT_PID/fd" | wc -l)
# Four seconds of scrapes while every efsmi and cnmon run hangs until it
# is killed: each scrape answers within 500 ms.
slow=0; n=0
end=$(( $(date +%s%N) + 4000000000 ))
while [ "$(date +%s%N)" -lt "$end" ]; do
  curl -fsS -o /dev/null --max-time 0.5 "$url" || slow=$((slow + 1))
  n=$((n + 1))
  sleep 0.1
done
[ "$slow" = 0 ] || fail "$slow of $n scrapes failed or took over 500 ms"
kills=$(grep -c 'killed after .*(timeout)' "$WORK/agent.log")
[ "$kills" -ge 2 ] || fail "slow and hung tools were not killed at their timeout: $(cat "$WORK/agent.log")"
has "$WORK/agent.log" 'smi/efsmi: efsmi: killed after' "slow tool killed"
has "$WORK/agent.log" 'smi/cnmon: cnmon: killed after' "hung tool killed"
# No zombie child of the agent, no fd more than before, no hung tool or
# child of one left beyond the runs in progress (a run and its child).
zombies=$(ps -o stat= --ppid "$AGENT_PID" | grep -c '^Z' || true)
[ "$zombies" = 0 ] || fail "$zombies zombie children of the agent"
fds1=$(ls "/proc/$AGENT_PID/fd" | wc -l)
[ "$fds1" -le $((fds0 + 4)) ] || fail "descriptors grew from $fds0 to $fds1 (a run's pipes are 4)"
left=$(pgrep -f "fake_smi.py cnmon $tools" | wc -l)
[ "$left" -le 2 ] || fail "$left hung cnmon processes left running"
curl -fsS "$url" >"$WORK/run2.prom"
has "$WORK/run2.prom" '^accel_utilization_ratio\{device="mychip0",uuid=""\} 0.81$' "user profile keeps polling"
has "$WORK/run2.prom" '^accelmon_collector_up\{collector="smi/cnmon"\} 0$' "hung tool's instance down"
lint "$WORK/run2.prom" "during hangs"
ok "$n scrapes while tools hung, $kills kills, fds $fds0 -> $fds1, no zombie, $left hung runs in progress"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "agent exit status $?"
sleep 0.3
left=$(pgrep -f "fake_smi.py cnmon $tools" | wc -l)
[ "$left" = 0 ] || fail "$left hung cnmon processes outlived the agent"
ok "stopped; nothing left running"
