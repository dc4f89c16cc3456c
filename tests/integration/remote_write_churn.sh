#!/bin/bash
# Remote write while jobs end: a plugin whose job series ends (and is
# released) every 200 ms poll, pushed every second to tests/rw_recv. Each
# ended job that a push sent gets a stale marker with its own labels, read
# from the registry only while the endpoint, a final-value consumer, keeps
# the series from being freed (a heap-use-after-free under ASan before).
. "$(dirname "$0")/lib.sh"
: "${ABS_BUILDDIR:?}"
: "${CC:=cc}"
$CC -std=gnu11 -Wall -Wextra -Werror -shared -fPIC -DPLUGIN_CHURN -I"$ABS_SRCDIR/agent" \
  -o "$WORK/churn.so" "$ABS_SRCDIR/tests/plugin/test_plugins.c" 2>"$WORK/cc.err" ||
  fail "building churn.so: $(cat "$WORK/cc.err")"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
rport=$(free_port)
"$ABS_BUILDDIR/tests/rw_recv" "$rport" "$WORK/req.log" --stale-log "$WORK/stale.log" \
  >"$WORK/recv.out" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null && break; sleep 0.1; done
conf() { # [MORE REMOTE_WRITE OPTIONS]
  printf '%b' "plugin_dir: \"\"\nplugins: [$WORK/churn.so]\ncollectors:\n  netdev: {enabled: false}\n  churn: {interval: 200ms}\nexporters:\n  remote_write:\n    url: http://127.0.0.1:$rport/w\n    interval: 1s\n    external_labels: [cluster=it]\n${1:-}" >"$WORK/c.yaml"
}
stale_at_least() { # N: wait up to 8 s for N stale markers
  for _ in $(seq 1 80); do
    [ "$(grep -c . "$WORK/stale.log" 2>/dev/null)" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}
conf
start_agent --config "$WORK/c.yaml" --listen "127.0.0.1:$(free_port)"
# Two stale markers, then a reload that restarts the endpoint (the new one
# takes over the last push's series and their labels), then two more.
stale_at_least 2
conf "    timeout: 3s\n"
kill -HUP "$AGENT_PID"
for _ in $(seq 1 50); do [ "$(grep -c "pushing to" "$WORK/agent.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c "pushing to" "$WORK/agent.log")" -ge 2 ] || fail "endpoint not restarted by the reload: $(tail -5 "$WORK/agent.log")"
n1=$(grep -c . "$WORK/stale.log")
stale_at_least $((n1 + 2))
kill "$AGENT_PID"; wait "$AGENT_PID"; rc=$?
! grep -q 'AddressSanitizer\|runtime error' "$WORK/agent.log" ||
  fail "sanitizer report: $(grep -A20 'ERROR: AddressSanitizer\|runtime error' "$WORK/agent.log" | head -40)"
[ "$rc" = 0 ] || fail "agent exited $rc: $(tail -5 "$WORK/agent.log")"
grep -q ' ok$' "$WORK/req.log" || fail "no push arrived: $(cat "$WORK/req.log") $(tail -5 "$WORK/agent.log")"
n=$(grep -c . "$WORK/stale.log")
[ "$n" -ge $((n1 + 2)) ] || fail "$n stale markers, want $((n1 + 2)): $(cat "$WORK/stale.log") $(tail -5 "$WORK/agent.log")"
bad=$(grep -v -x '__name__=churn_job_value,cluster=it,job=[1-9][0-9]*' "$WORK/stale.log")
[ -z "$bad" ] || fail "stale markers with other labels: $bad"
# One stale marker per ended job (the reload started the plugin afresh,
# so its job numbers start again: the two runs apart).
last=$(sed 's/.*job=//' "$WORK/stale.log" | tail -1)
for part in "1,$n1" "$((n1 + 1)),\$"; do
  d=$(sed -n "${part}p" "$WORK/stale.log" | sort | uniq -d)
  [ -z "$d" ] || fail "a job marked stale twice: $d"
done
ok "$n stale markers ($n1 before a reload restarted the endpoint), each with its ended job's labels (last job $last)"
echo "remote_write_churn: all checks passed"
