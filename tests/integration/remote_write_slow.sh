#!/bin/bash
# Remote write to a receiver slower than the interval (tests/rw_recv
# answering its first 4 requests after 1.5 s, interval 500 ms): sending is
# asynchronous from the pushes, so no push is skipped. Every interval's
# samples arrive exactly once and in time order, the pushes made meanwhile
# wait in the spool (spool_bytes > 0) and /metrics answers at once all the
# while.
. "$(dirname "$0")/lib.sh"
need curl
RECV="$ABS_BUILDDIR/tests/rw_recv"
[ -x "$RECV" ] || fail "$RECV not built"

rport=$(free_port); aport=$(free_port)
"$RECV" "$rport" "$WORK/req.log" slow=1.5 slow=1.5 slow=1.5 slow=1.5 >"$WORK/recv.out" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null && break; sleep 0.1; done
cat > "$WORK/a.yaml" <<YAML
collectors:
  netdev: {}
exporters:
  remote_write:
    url: http://127.0.0.1:$rport/api/v1/write
    interval: 500ms
    timeout: 5s
    spool_dir: $WORK/spool
YAML
start_agent --config "$WORK/a.yaml" --sysfs "$FIXTURES/netdev/sys" --listen "127.0.0.1:$aport"
wait_http "http://127.0.0.1:$aport/-/healthy" || fail "agent did not come up: $(cat "$WORK/agent.log")"

# While the slow answers last (6 s): scrapes are quick, the backlog is spooled.
u="url=\"http://127.0.0.1:$rport/api/v1/write\""
maxq=0; slowest=0
while [ "$(awk '$3 == "slow"' "$WORK/req.log" 2>/dev/null | wc -l)" -lt 4 ] ||
      [ "$(wc -l < "$WORK/req.log")" -lt 5 ]; do
  t0=$(date +%s%N)
  m=$(curl -fsS --max-time 5 "http://127.0.0.1:$aport/metrics") || fail "scrape failed"
  dt=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$dt" -gt "$slowest" ] && slowest=$dt
  b=$(echo "$m" | awk -v k="accelmon_remote_write_spool_bytes{$u}" 'index($0, k " ") == 1 { print $2 }')
  [ "${b:-0}" -gt "$maxq" ] && maxq=${b:-0}
  [ "$(( ($(date +%s%N) - ${start:=$t0}) / 1000000000 ))" -lt 30 ] || fail "receiver saw $(cat "$WORK/req.log")"
  sleep 0.2
done
[ "$slowest" -lt 1000 ] || fail "a scrape took $slowest ms while the receiver was slow"
ok "/metrics answers while the receiver is slow (slowest scrape $slowest ms)"
[ "$maxq" -gt 0 ] || fail "nothing was spooled while the receiver was slow"
ok "pushes made during the slow answers were spooled (up to $maxq bytes)"

# Until the backlog is sent and the pushes are live again (arrival close
# to the samples' time).
for _ in $(seq 1 100); do
  live=$(awk 'NR > 6 && $2 - $6 < 400' "$WORK/req.log" | wc -l)
  [ "$live" -ge 3 ] && break
  sleep 0.1
done
[ "$live" -ge 3 ] || fail "backlog not sent: $(cat "$WORK/req.log")"
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
bad=$(awk '$10 != "ok"' "$WORK/req.log")
[ -z "$bad" ] || fail "the receiver found problems: $bad"
grep -q "pushes skipped" "$WORK/agent.log" && fail "pushes skipped: $(grep skipped "$WORK/agent.log")"
# One request per push (the fixture is below max_samples_per_request): the
# timestamps go up one interval at a time, none missing, none twice.
awk '{ if (NR > 1) { d = $6 - last
         if (d <= 0) { print "not in order or twice: " prev " / " $0; exit 1 }
         if (d < 250) { print "pushes closer than half an interval: " prev " / " $0; exit 1 }
         if (d > 750) { print "push missing between: " prev " / " $0; exit 1 } }
       last = $6; prev = $0; n++ }
     END { if (n < 15) { print "only " n " pushes"; exit 1 } }' "$WORK/req.log" ||
  fail "pushes not each once in order: $(cat "$WORK/req.log")"
n=$(wc -l < "$WORK/req.log")
span=$(awk 'NR == 1 { a = $6 } { b = $6 } END { print b - a }' "$WORK/req.log")
ok "all $n pushes over $span ms arrived once, in order, none skipped (4 answers took 1.5 s each, interval 500 ms)"
echo "remote_write_slow: all checks passed"
