#!/bin/bash
# --user: the agent started as root runs as the user in every thread, with
# no capabilities (or only CAP_NET_BIND_SERVICE for a port below 1024), an
# empty bounding set and no_new_privs, and still serves; an unknown user is
# a usage error; the config is checked as the user (a records folder it
# cannot write: exit 2). Started as nobody with capabilities given, the agent
# keeps only those the config needs. The shipped systemd unit passes
# systemd-analyze security.
. "$(dirname "$0")/lib.sh"
need curl

# The unit, where systemd is present (offline: nothing is started).
if command -v systemd-analyze >/dev/null 2>&1 &&
   systemd-analyze security --help 2>&1 | grep -q -- --offline; then
  unit="$ABS_SRCDIR/agent/accelmon.service"
  systemd-analyze security --offline=yes "$unit" >"$WORK/sec" 2>&1 ||
    fail "systemd-analyze security: $(tail -5 "$WORK/sec")"
  for d in NoNewPrivileges ProtectSystem ProtectHome PrivateTmp \
           'CapabilityBoundingSet=~CAP_SYS_ADMIN' 'CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)'; do
    grep -F "✓ $d" "$WORK/sec" >/dev/null || fail "unit: $d not in force: $(grep -F "$d" "$WORK/sec")"
  done
  for d in 'StateDirectory=accelmon/records accelmon/spool' \
           'ReadWritePaths=-/var/lib/accelmon/records -/var/lib/accelmon/spool'; do
    grep -qxF "$d" "$unit" || fail "unit lacks $d"
  done
  exp=$(sed -n 's/.*Overall exposure level for accelmon.service: \([0-9.]*\).*/\1/p' "$WORK/sec")
  awk -v e="$exp" 'BEGIN{exit !(e != "" && e <= 3.0)}' || fail "unit exposure $exp (over 3.0)"
  ok "systemd unit: exposure $exp, the hardening directives in force"
else
  echo "SKIP part: systemd-analyze with --offline is not installed"
fi

[ "$(id -u)" = 0 ] || skip "--user needs the test to run as root (uid $(id -u))"
getent passwd nobody >/dev/null || skip "no user 'nobody'"
nobody=$(id -u nobody)

"$ACCELMON" --user no-such-user-accelmon >/dev/null 2>"$WORK/err"; rc=$?
[ "$rc" = 2 ] || fail "unknown --user: exit $rc, not 2"
grep -q "accelmon: --user no-such-user-accelmon: no such user" "$WORK/err" || fail "$(cat "$WORK/err")"

status() { grep "^$1:" "/proc/$AGENT_PID/status" | cut -f2- | tr -d ' \t'; }
check_run() { # check_run PORT WANT-CAPEFF
  start_agent --user nobody --listen "127.0.0.1:$1" --simulate 2
  wait_http "http://127.0.0.1:$1/metrics" || fail "no answer as nobody: $(cat "$WORK/agent.log")"
  [ "$(status Uid)" = "$nobody$nobody$nobody$nobody" ] || fail "Uid: $(status Uid)"
  [ "$(status NoNewPrivs)" = 1 ] || fail "NoNewPrivs: $(status NoNewPrivs)"
  [ "$(status CapBnd)" = "$2" ] || fail "CapBnd: $(status CapBnd), not $2"
  [ "$(status CapInh)$(status CapAmb)" = 00000000000000000000000000000000 ] ||
    fail "inheritable/ambient caps left"
  # Capabilities are per thread: every one of them.
  for t in /proc/"$AGENT_PID"/task/*; do
    e=$(grep '^CapEff:' "$t/status" | cut -f2)
    u=$(grep '^Uid:' "$t/status" | cut -f2)
    [ "$e" = "$2" ] && [ "$u" = "$nobody" ] || fail "thread $t: CapEff $e Uid $u"
  done
  n=$(ls /proc/"$AGENT_PID"/task | wc -l)
  for _ in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$1/metrics" | grep -q '^accel_utilization_ratio' && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$1/metrics" | grep -q '^accel_utilization_ratio' ||
    fail "no sim series as nobody"
  kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; rc=$?
  [ "$rc" = 0 ] || fail "exit $rc as nobody"
  ok "--user nobody, port $1: $n threads, CapEff $2 in each, no_new_privs"
}
check_run "$(free_port)" 0000000000000000
# A port below 1024 keeps only CAP_NET_BIND_SERVICE (bit 10).
low=""
for p in 991 992 993 994 995; do
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { low=$p; break; }
done
[ -n "$low" ] && check_run "$low" 0000000000000400
grep -q "running as user nobody; capabilities kept: cap_net_bind_service (listen 127.0.0.1:$low)" \
  "$WORK/agent.log" || fail "kept capabilities not logged: $(cat "$WORK/agent.log")"

# Load-time checks are made as the --user: a records folder only root may
# write is refused at startup (exit 2, FILE:LINE), not at the first write.
chmod 711 "$WORK"
mkdir -p "$WORK/rootonly"; chmod 700 "$WORK/rootonly"
printf 'listen: 127.0.0.1:%s\ncollectors:\n  sim: {devices: 1}\nexporters:\n  records:\n    dir: %s\n' \
  "$(free_port)" "$WORK/rootonly" >"$WORK/rec.yaml"
chmod 644 "$WORK/rec.yaml"
timeout 10 "$ACCELMON" --user nobody --config "$WORK/rec.yaml" >/dev/null 2>"$WORK/err"; rc=$?
[ "$rc" = 2 ] || fail "records dir only root may write, --user nobody: exit $rc, not 2: $(cat "$WORK/err")"
grep -qF "accelmon: $WORK/rec.yaml:6: exporters.records.dir: $WORK/rootonly: Permission denied (checked as --user nobody)" \
  "$WORK/err" || fail "records dir message: $(cat "$WORK/err")"
ok "--user nobody, records dir only root may write: exit 2 with FILE:LINE"

# Started as nobody with capabilities given (systemd's AmbientCapabilities,
# setpriv): they shrink to what the config needs, none ambient, one log line.
if command -v setpriv >/dev/null 2>&1; then
  extra=+net_raw,+sys_admin,+dac_override
  as_nobody_caps() { # as_nobody_caps ARGS...: the agent as nobody, given $extra
    setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps="$extra" \
      --ambient-caps="$extra" "$ACCELMON" "$@" >"$WORK/agent.out" 2>"$WORK/agent.log" &
    AGENT_PID=$!; PIDS="$PIDS $AGENT_PID"
  }
  check_caps() { # check_caps WHAT WANT-CAPEFF
    for t in /proc/"$AGENT_PID"/task/*; do
      for f in CapEff CapPrm; do
        v=$(grep "^$f:" "$t/status" | cut -f2)
        [ "$v" = "$2" ] || fail "$1: thread $t: $f $v, not $2"
      done
      v=$(grep '^CapAmb:' "$t/status" | cut -f2)
      [ "$v" = 0000000000000000 ] || fail "$1: thread $t: CapAmb $v"
    done
    [ "$(status NoNewPrivs)" = 1 ] || fail "$1: NoNewPrivs $(status NoNewPrivs)"
  }
  p=$(free_port)
  as_nobody_caps --listen "127.0.0.1:$p" --simulate 1
  wait_http "http://127.0.0.1:$p/metrics" || fail "no answer as nobody with caps: $(cat "$WORK/agent.log")"
  check_caps "no capture" 0000000000000000
  [ "$(grep -c 'running as uid 65534 (not root); capabilities kept: none; dropped: permitted 0x202002, ambient 0x202002' "$WORK/agent.log")" = 1 ] ||
    fail "not one line saying what was kept: $(cat "$WORK/agent.log")"
  kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
  ok "as nobody given $extra, no capture: nothing kept, nothing ambient"
  # The same with --user nobody (already that user).
  p=$(free_port)
  as_nobody_caps --user nobody --listen "127.0.0.1:$p" --simulate 1
  wait_http "http://127.0.0.1:$p/metrics" || fail "no answer as --user nobody with caps: $(cat "$WORK/agent.log")"
  check_caps "--user nobody, already nobody" 0000000000000000
  grep -q 'running as user nobody; capabilities kept: none' "$WORK/agent.log" ||
    fail "--user nobody, already nobody: $(cat "$WORK/agent.log")"
  kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
  ok "as nobody given $extra, --user nobody: nothing kept, nothing ambient"
  if ldd "$ACCELMON" 2>/dev/null | grep -q libpcap; then # built with pcap
    # The capture handle is opened before the drop, then CAP_NET_RAW goes.
    p=$(free_port)
    printf 'listen: 127.0.0.1:%s\ncollectors:\n  pcap: {interfaces: [lo]}\n' "$p" >"$WORK/lo.yaml"
    chmod 644 "$WORK/lo.yaml"
    as_nobody_caps --config "$WORK/lo.yaml"
    wait_http "http://127.0.0.1:$p/metrics" || fail "no answer capturing as nobody: $(cat "$WORK/agent.log")"
    check_caps "capture on lo" 0000000000000000
    grep -q 'capabilities kept: none; dropped: permitted 0x202002, ambient 0x202002 (needed: none); cap_net_raw dropped, the capture handles being open' \
      "$WORK/agent.log" || fail "capture: kept line: $(cat "$WORK/agent.log")"
    kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
    ok "as nobody given $extra, capture on lo: nothing kept once the handle is open"
  fi
else
  echo "SKIP part: setpriv is not installed"
fi

# --user with a capture: the handle is opened as root, then the agent keeps
# no capability; it still captures, also after a reload that keeps the
# interface; a reload that adds one is refused (the running config stays).
ldd "$ACCELMON" 2>/dev/null | grep -q libpcap || exit 0
p=$(free_port)
printf 'listen: 127.0.0.1:%s\ncollectors:\n  pcap: {interfaces: [lo], top_k: 4}\n' "$p" >"$WORK/cap.yaml"
chmod 644 "$WORK/cap.yaml"
start_agent --user nobody --config "$WORK/cap.yaml"
wait_http "http://127.0.0.1:$p/metrics" || fail "no answer capturing as --user nobody: $(cat "$WORK/agent.log")"
for t in /proc/"$AGENT_PID"/task/*; do
  v=$(grep '^CapEff:' "$t/status" | cut -f2)
  [ "$v" = 0000000000000000 ] || fail "--user nobody, capture: thread $t: CapEff $v"
done
grep -q 'running as user nobody; capabilities kept: none; cap_net_raw dropped, the capture handles being open' \
  "$WORK/agent.log" || fail "capture, --user: kept line: $(cat "$WORK/agent.log")"
received() { curl -fsS "http://127.0.0.1:$p/metrics" |
  sed -n 's/^fabric_pcap_received_packets_total{[^}]*device="lo"[^}]*} \([0-9]*\)$/\1/p'; }
captures() { # captures WHAT: frames sent on lo are counted
  local before after
  before=$(received); before=${before:-0}
  for _ in $(seq 1 50); do
    echo x >"/dev/udp/127.0.0.1/$p" 2>/dev/null
    after=$(received)
    [ "${after:-0}" -gt "$before" ] && return 0
    sleep 0.1
  done
  fail "$1: nothing captured on lo (received ${after:-none}, was $before): $(cat "$WORK/agent.log")"
}
captures "--user nobody, no capability"
kill -HUP "$AGENT_PID"
for _ in $(seq 1 50); do
  grep -q 'configuration reloaded from' "$WORK/agent.log" && break; sleep 0.1
done
grep -q 'configuration reloaded from' "$WORK/agent.log" || fail "reload: $(cat "$WORK/agent.log")"
captures "after a reload keeping lo"
other=$(ls /sys/class/net | grep -vx lo | head -1)
if [ -n "$other" ]; then
  printf 'listen: 127.0.0.1:%s\ncollectors:\n  pcap: {interfaces: [lo, %s], top_k: 4}\n' "$p" "$other" >"$WORK/cap.yaml"
  kill -HUP "$AGENT_PID"
  for _ in $(seq 1 50); do
    grep -q 'reload failed' "$WORK/agent.log" && break; sleep 0.1
  done
  [ "$(grep -c "reload failed, keeping the running config: .*collectors.pcap: interfaces: $other: a new capture interface needs a restart: CAP_NET_RAW was dropped" "$WORK/agent.log")" = 1 ] ||
    fail "reload adding $other: $(cat "$WORK/agent.log")"
  captures "after the refused reload"
  ok "--user nobody, capture on lo: no capability kept, captures through a reload; adding $other is refused"
else
  ok "--user nobody, capture on lo: no capability kept, captures through a reload (no second interface to add)"
fi
kill -TERM "$AGENT_PID"; wait "$AGENT_PID"; rc=$?
[ "$rc" = 0 ] || fail "exit $rc capturing as nobody"
