#!/bin/bash
# Rescan through the real agent (scheduler, aggregator, /metrics): on the
# MI300X tree a card that appears after start is exported, and one that
# disappears reads accel_up 0, within one rescan interval (1 s here, polls
# every 200 ms); the exposition stays promtool-clean throughout.
. "$(dirname "$0")/lib.sh"
need curl
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}

TREE=$WORK/tree
sh "$FIXTURES/amdgpu/mktree.sh" "$FIXTURES/amdgpu/mi300x" "$TREE" || fail "mktree"
mv "$TREE/class/drm/card7" "$WORK/card7.away"
cat >"$WORK/accelmon.yml" <<YML
collectors:
  netdev: {enabled: false}
  amdgpu: {interval: 200ms, rescan: 1s}
YML
PORT=$(free_port) || fail "no free port"
start_agent --config "$WORK/accelmon.yml" --sysfs "$TREE" --listen "127.0.0.1:$PORT"
URL="http://127.0.0.1:$PORT/metrics"
wait_http "$URL" 10 || { cat "$WORK/agent.log"; fail "agent did not answer"; }

up() { # up DEVICE: its accel_up value in the scrape $WORK/m, or "none"
  awk -v d="$1" '$1 ~ "^accel_up[{]device=\"" d "\"" { print $2; f = 1 } END { if (!f) print "none" }' "$WORK/m"
}
scrape() {
  curl -fsS "$URL" >"$WORK/m" || fail "scrape"
  if [ -n "$PROMTOOL" ]; then
    "$PROMTOOL" check metrics <"$WORK/m" >"$WORK/lint" 2>&1 || { cat "$WORK/lint"; fail "promtool: $1"; }
  fi
}
# wait_up DEVICE VALUE SECONDS: until the scrape shows it; prints the time taken
wait_up() {
  local t0=$(date +%s%N) deadline=$(( $(date +%s) + $3 ))
  while [ "$(date +%s)" -le "$deadline" ]; do
    scrape "$1=$2"
    if [ "$(up "$1")" = "$2" ]; then
      echo $(( ($(date +%s%N) - t0) / 1000000 ))
      return 0
    fi
    sleep 0.1
  done
  cat "$WORK/agent.log"
  fail "$1: accel_up is $(up "$1"), want $2 within $3 s"
}

wait_up amdgpu0 1 5 >/dev/null
[ "$(up amdgpu7)" = none ] || fail "amdgpu7 exported before it exists"
ok "7 cards at start, amdgpu7 absent"

mv "$WORK/card7.away" "$TREE/class/drm/card7"
mv "$TREE/class/drm/card3" "$WORK/card3.away"
ms=$(wait_up amdgpu7 1 2)
ok "amdgpu7 appeared, exported after ${ms} ms (rescan every 1 s)"
ms=$(wait_up amdgpu3 0 2)
ok "amdgpu3 vanished: accel_up 0 after ${ms} ms"
grep -q 'accel_utilization_ratio{device="amdgpu3"' "$WORK/m" && fail "amdgpu3's utilization still exported"
grep -q 'accel_info{device="amdgpu3"' "$WORK/m" || fail "amdgpu3's accel_info gone"
grep -q 'amdgpu3: card3 is gone; reporting accel_up 0 until it returns' "$WORK/agent.log" ||
  fail "no log line for the vanished card"

mv "$WORK/card3.away" "$TREE/class/drm/card3"
ms=$(wait_up amdgpu3 1 2)
ok "amdgpu3 back: accel_up 1 after ${ms} ms"
grep -q 'accel_utilization_ratio{device="amdgpu3",uuid="5c3a1f07a1b2c303"} 0.42' "$WORK/m" ||
  fail "amdgpu3's utilization not back"
echo "PASS: amdgpu rescan through the agent"
