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
cat >"$WORK/c.yaml" <<YAML
plugin_dir: ""
plugins: [$WORK/churn.so]
collectors:
  netdev: {enabled: false}
  churn: {interval: 200ms}
exporters:
  remote_write:
    url: http://127.0.0.1:$rport/w
    interval: 1s
    external_labels: [cluster=it]
YAML
start_agent --config "$WORK/c.yaml" --listen "127.0.0.1:$(free_port)"
# Four stale markers: at least four pushes, each after jobs ended.
for _ in $(seq 1 80); do
  [ "$(grep -c . "$WORK/stale.log" 2>/dev/null)" -ge 4 ] && break
  sleep 0.1
done
kill "$AGENT_PID"; wait "$AGENT_PID"; rc=$?
! grep -q 'AddressSanitizer\|runtime error' "$WORK/agent.log" ||
  fail "sanitizer report: $(grep -A20 'ERROR: AddressSanitizer\|runtime error' "$WORK/agent.log" | head -40)"
[ "$rc" = 0 ] || fail "agent exited $rc: $(tail -5 "$WORK/agent.log")"
grep -q ' ok$' "$WORK/req.log" || fail "no push arrived: $(cat "$WORK/req.log") $(tail -5 "$WORK/agent.log")"
n=$(grep -c . "$WORK/stale.log")
[ "$n" -ge 4 ] || fail "$n stale markers, want 4: $(cat "$WORK/stale.log") $(tail -5 "$WORK/agent.log")"
bad=$(grep -v -x '__name__=churn_job_value,cluster=it,job=[1-9][0-9]*' "$WORK/stale.log")
[ -z "$bad" ] || fail "stale markers with other labels: $bad"
# One stale marker per ended job.
last=$(sed 's/.*job=//' "$WORK/stale.log" | sort -n | tail -1)
[ "$(sed 's/.*job=//' "$WORK/stale.log" | sort -n | uniq -d)" = "" ] || fail "a job marked stale twice: $(cat "$WORK/stale.log")"
ok "$n stale markers, each with its ended job's labels (last job $last)"
echo "remote_write_churn: all checks passed"
