#!/bin/bash
# Plugins across SIGHUP: an instance hung in init and abandoned at a reload
# reads its options when it returns (heap-use-after-free under ASan before
# the slots owned their options); a hung poll's series go stale as usual
# instead of vanishing; a failed reload's plugins never run; a plugin file
# swapped under a link keeps the running one with one warning.
. "$(dirname "$0")/lib.sh"
need curl
: "${ABS_BUILDDIR:?}"
: "${CC:=cc}"

build() { # build OUT.so -DFLAG: against the source tree's public headers
  # shellcheck disable=SC2086
  $CC -std=gnu11 -Wall -Wextra -Werror -shared -fPIC "$2" -I"$ABS_SRCDIR/agent" \
    -o "$WORK/$1" "$ABS_SRCDIR/tests/plugin/test_plugins.c" 2>"$WORK/cc.err" ||
    fail "building $1: $(cat "$WORK/cc.err")"
}
build hung.so -DPLUGIN_HUNG
build rescan.so -DPLUGIN_RESCAN
$CC -std=gnu11 -shared -fPIC -I"$ABS_SRCDIR/agent" -o "$WORK/example.so" \
  "$ABS_SRCDIR/tests/plugin/example_plugin.c" 2>"$WORK/cc.err" || fail "example.so: $(cat "$WORK/cc.err")"
cp "$WORK/example.so" "$WORK/example2.so"
mkdir -p "$WORK/sys"
PROC="$FIXTURES/plugin/proc"
conf() { printf '%s\n' "$@" >"$WORK/c.yaml"; }
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
port=$(free_port)
URL="http://127.0.0.1:$port/metrics"
scrape() { curl -fsS --max-time 2 "$URL" >"$WORK/m" || fail "scrape: $(tail -5 "$WORK/agent.log")"; }
wait_log() { # wait_log PATTERN SECONDS
  for _ in $(seq $(( $2 * 10 ))); do grep -q "$1" "$WORK/agent.log" && return 0; sleep 0.1; done
  return 1
}
stop_agent() { # SIGTERM, want exit 0 and no sanitizer report
  kill "$AGENT_PID"; wait "$AGENT_PID"; local rc=$?
  ! grep -q 'AddressSanitizer\|runtime error' "$WORK/agent.log" ||
    fail "$1: sanitizer report: $(grep -A12 'ERROR: AddressSanitizer\|runtime error' "$WORK/agent.log" | head -30)"
  [ "$rc" = 0 ] || fail "$1: agent exited $rc: $(tail -5 "$WORK/agent.log")"
}

# ---- 1. init hung across a reload: its options outlive the old config ----
touch "$WORK/hang_init"
conf "listen: 127.0.0.1:$port" "plugin_dir: \"\"" "plugins: [$WORK/hung.so]" "collectors:" \
  "  hung: {interval: 5s, label: first-config-label-value, init_flag: $WORK/hang_init}"
start_agent --config "$WORK/c.yaml" --sysfs "$WORK/sys" --procfs "$PROC"
wait_http "$URL" || fail "agent did not come up: $(cat "$WORK/agent.log")"
conf "listen: 127.0.0.1:$port" "plugin_dir: \"\"" "plugins: [$WORK/hung.so]" "collectors:" \
  "  hung: {interval: 5s, label: second-config-label, init_flag: $WORK/hang_init}"
kill -HUP "$AGENT_PID"
wait_log 'configuration reloaded' 10 || fail "no reload: $(tail -5 "$WORK/agent.log")"
grep -q 'hung: did not stop within 2s' "$WORK/agent.log" || fail "init not abandoned: $(cat "$WORK/agent.log")"
# The old config (and its option values) is freed now; overwrite the heap.
for _ in 1 2 3; do scrape; done
rm -f "$WORK/hang_init"
wait_log 'the abandoned instance returned' 10 || fail "abandoned init never returned: $(tail -5 "$WORK/agent.log")"
grep -q 'hung: init returned: label=first-config-label-value$' "$WORK/agent.log" ||
  fail "the abandoned init read the wrong options: $(grep 'init returned' "$WORK/agent.log")"
# Both inits wait on the same flag file: the new instance's may log after
# the abandoned one's, so wait for it rather than look once.
wait_log 'hung: init returned: label=second-config-label$' 10 ||
  fail "the new instance: $(grep 'init returned' "$WORK/agent.log")"
stop_agent "abandoned init"
ok "an init abandoned at a reload read its own options when it returned"

# ---- 2. a hung poll abandoned at a reload: its series go stale as usual ----
# (three intervals after its last sample, not at once)
touch "$WORK/hang_poll" # the first poll emits, then hangs
conf "listen: 127.0.0.1:$port" "plugin_dir: \"\"" "plugins: [$WORK/hung.so]" "collectors:" \
  "  hung: {interval: 3s, timeout: 60s, label: p, poll_flag: $WORK/hang_poll}"
start_agent --config "$WORK/c.yaml" --sysfs "$WORK/sys" --procfs "$PROC"
wait_http "$URL" || fail "agent did not come up: $(cat "$WORK/agent.log")"
for _ in $(seq 50); do scrape; grep -q '^hung_value{label="p"} 42' "$WORK/m" && break; sleep 0.1; done
grep -q '^hung_value{label="p"} 42' "$WORK/m" || fail "no hung_value: $(tail -5 "$WORK/agent.log")"
conf "listen: 127.0.0.1:$port" "plugin_dir: \"\"" "plugins: [$WORK/hung.so]" "collectors:" \
  "  hung: {enabled: false}"
t0=$(date +%s.%N)
kill -HUP "$AGENT_PID"
wait_log 'configuration reloaded' 10 || fail "no reload: $(tail -5 "$WORK/agent.log")"
grep -q 'hung: did not stop within 2s' "$WORK/agent.log" || fail "poll not abandoned: $(cat "$WORK/agent.log")"
sleep 1.5 # past the next render (at least one a second)
scrape
grep -q '^hung_value{label="p"} 42' "$WORK/m" ||
  fail "the abandoned collector's series vanished at once: $(grep hung "$WORK/m")"
gone=""
for _ in $(seq 150); do
  scrape; grep -q '^hung_value' "$WORK/m" || { gone=$(date +%s.%N); break; }; sleep 0.1
done
[ -n "$gone" ] || fail "hung_value never went stale"
took=$(awk -v a="$t0" -v b="$gone" 'BEGIN { printf "%.1f", b - a }')
# Its last sample came just before the SIGHUP: stale about 9 s later.
awk -v t="$took" 'BEGIN { exit !(t >= 6) }' || fail "hung_value gone ${took}s after the SIGHUP, want ~9s (3 x 3s)"
rm -f "$WORK/hang_poll"
wait_log 'hung: the abandoned instance returned' 10 || fail "the abandoned poll never returned: $(tail -5 "$WORK/agent.log")"
stop_agent "abandoned poll"
ok "a hung poll abandoned at a reload: series kept, stale ${took}s after the SIGHUP (3 x interval 3s)"

# ---- 3. a failed reload's plugins stay off; a config without plugins runs none ----
conf "listen: 127.0.0.1:$port" "plugin_dir: \"\"" "plugins: [$WORK/example.so]" \
  "collectors:" "  example: {interval: 100ms}"
start_agent --config "$WORK/c.yaml" --sysfs "$WORK/sys" --procfs "$PROC"
wait_http "$URL" || fail "agent did not come up: $(cat "$WORK/agent.log")"
conf "listen: 127.0.0.1:$port" "plugin_dir: \"\"" "plugins: [$WORK/example.so, $WORK/rescan.so]" \
  "collectors:" "  example: {interval: 100ms}" "  rescan_count: {interval: 100ms}" "no_such_key: 1"
kill -HUP "$AGENT_PID"
wait_log 'reload failed' 10 || fail "bad config accepted: $(tail -5 "$WORK/agent.log")"
sleep 0.5
scrape
grep -qxF 'accelmon_collector_up{collector="example"} 1' "$WORK/m" || fail "example gone after a failed reload"
! grep -q 'rescan_count' "$WORK/m" || fail "a failed reload's plugin runs: $(grep rescan_count "$WORK/m")"
conf "listen: 127.0.0.1:$port" "plugin_dir: \"\"" "collectors: {}"
kill -HUP "$AGENT_PID"
wait_log 'configuration reloaded' 10 || fail "no reload: $(tail -5 "$WORK/agent.log")"
for _ in $(seq 30); do # example's series go stale (3 x 100ms), a render a second
  scrape; grep -q 'rescan_count\|example_\|collector="example"' "$WORK/m" || break; sleep 0.1
done
! grep -q 'rescan_count\|example_\|collector="example"' "$WORK/m" ||
  fail "plugins not in the config run: $(grep 'rescan_count\|example' "$WORK/m")"
! grep -q 'rescan_count: ready\|rescan_count.*every' "$WORK/agent.log" ||
  fail "rescan_count started: $(grep rescan_count "$WORK/agent.log")"
stop_agent "plugins off"
ok "a failed reload's plugin never ran; a config listing none runs none"

# ---- 4. a plugin upgraded by swapping its link: reloads still succeed ----
ln -sfn "$WORK/example.so" "$WORK/link.so"
conf "listen: 127.0.0.1:$port" "plugin_dir: \"\"" "plugins: [$WORK/link.so]" \
  "collectors:" "  example: {interval: 100ms}"
start_agent --config "$WORK/c.yaml" --sysfs "$WORK/sys" --procfs "$PROC"
wait_http "$URL" || fail "agent did not come up: $(cat "$WORK/agent.log")"
ln -sfn "$WORK/example2.so" "$WORK/link.so"
for n in 1 2; do
  kill -HUP "$AGENT_PID"
  for _ in $(seq 100); do [ "$(grep -c 'configuration reloaded\|reload failed' "$WORK/agent.log")" -ge $n ] && break; sleep 0.1; done
  ! grep -q 'reload failed' "$WORK/agent.log" || fail "reload $n after the swap: $(grep 'reload failed' "$WORK/agent.log")"
  [ "$(grep -c 'configuration reloaded' "$WORK/agent.log")" = $n ] || fail "reload $n: $(tail -3 "$WORK/agent.log")"
done
[ "$(grep -c 'restart the agent to load the new file' "$WORK/agent.log")" = 1 ] ||
  fail "want one restart warning: $(grep -i 'restart\|example' "$WORK/agent.log")"
sleep 0.5
scrape
grep -qxF 'accelmon_collector_up{collector="example"} 1' "$WORK/m" || fail "example not running after the swap"
stop_agent "link swap"
ok "link swapped: two reloads succeeded, one warning, the loaded plugin kept running"
