#!/bin/bash
# Command-line contract: exit codes 0/1/2 and one clear line naming file,
# line and problem for every configuration error.
. "$(dirname "$0")/lib.sh"

"$ACCELMON" --version | grep -q '^accelmon ' || fail "--version"
"$ACCELMON" --help | grep -q -- '--sysfs DIR' || fail "--help"
"$ACCELMON" --print-config | grep -q '^listen: 127.0.0.1:' || fail "--print-config"

expect() { # expect CODE PATTERN ARGS...: exit code and one stderr line
  local code=$1 pat=$2; shift 2
  "$ACCELMON" "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  [ "$rc" = "$code" ] || fail "accelmon $*: exit $rc, want $code: $(cat "$WORK/err")"
  grep -q -- "$pat" "$WORK/err" || fail "accelmon $*: stderr lacks '$pat': $(cat "$WORK/err")"
  ok "accelmon $* -> $code: $(head -1 "$WORK/err")"
}

expect 2 "unrecognized option" --bogus
expect 2 "unexpected argument" extra
expect 2 "unknown level" --log-level loud
expect 2 "--sysfs /nonexistent" --sysfs /nonexistent --once
expect 2 "cannot read" --config /nonexistent.yaml --once

printf 'listen: 127.0.0.1:9917\ncollectors:\n  netdev:\n    intervall: 1s\n' > "$WORK/unknown.yaml"
expect 2 "unknown.yaml:4: collectors.netdev.intervall: unknown key" --config "$WORK/unknown.yaml" --once
printf 'collectors:\n  netdev:\n    interval: fast\n' > "$WORK/type.yaml"
expect 2 "type.yaml:3: collectors.netdev.interval" --config "$WORK/type.yaml" --once
printf 'collectors: [netdev\n' > "$WORK/bad.yaml"
expect 2 "bad.yaml:" --config "$WORK/bad.yaml" --once
printf 'collectors:\n  sim: {interval: 3000000h}\n' > "$WORK/long.yaml"
expect 2 "long.yaml:2: collectors.sim.interval: \"3000000h\" is above the maximum of 1d" --config "$WORK/long.yaml" --once
printf 'collectors:\n  netdev: {interval: 50ms}\n' > "$WORK/short.yaml"
expect 2 "short.yaml:2: collectors.netdev.interval" --config "$WORK/short.yaml" --once

# The shipped example configuration is valid.
"$ACCELMON" --config "$ABS_SRCDIR/agent/accelmon.example.yaml" --sysfs "$FIXTURES/netdev/sys" --once >"$WORK/ex.out" 2>"$WORK/ex.err" ||
  fail "example config: $(cat "$WORK/ex.err")"
grep -q '^fabric_netdev_up{device="eth0"} 1$' "$WORK/ex.out" || fail "example config output"
ok "agent/accelmon.example.yaml runs"

# --once with different intervals: the fast collector's series are not stale
# by the time the slow one has made its polls.
printf 'collectors:\n  netdev: {interval: 100ms}\n  sim: {devices: 1, interval: 1s}\n' > "$WORK/mixed.yaml"
"$ACCELMON" --config "$WORK/mixed.yaml" --sysfs "$FIXTURES/netdev/sys" --once >"$WORK/mixed.out" 2>/dev/null || fail "--once mixed intervals"
grep -q '^fabric_netdev_up{device="eth0"} 1$' "$WORK/mixed.out" || fail "--once lost the 100ms collector's series"
grep -q '^accel_up{device="sim0"' "$WORK/mixed.out" || fail "--once lost the 1s collector's series"
ok "--once keeps every collector's series whatever its interval"

# Options with a range are checked with the file.
printf 'collectors:\n  sim: {devices: 0}\n' > "$WORK/range.yaml"
expect 2 "range.yaml:2: collectors.sim.devices: 0 is out of range (1..1024)" --config "$WORK/range.yaml" --once
printf 'exporters:\n  prometheus:\n    threads: 1000\n' > "$WORK/range2.yaml"
expect 2 "range2.yaml:3: exporters.prometheus.threads: 1000 is out of range (1..64)" --config "$WORK/range2.yaml" --once

# A port already taken is a runtime failure (1), named clearly.
port=$(free_port)
start_agent --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$port"
wait_http "http://127.0.0.1:$port/-/healthy" || fail "agent did not come up"
expect 1 "cannot listen on 127.0.0.1:$port" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$port"
echo "cli: all checks passed"
