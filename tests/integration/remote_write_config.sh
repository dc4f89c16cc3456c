#!/bin/bash
# remote_write configuration errors: types and ranges are refused with the
# file (FILE:LINE, exit 2), and so are the exporter's own checks (URL scheme,
# name=value, secret files, spool_dir, headers): at startup and on SIGHUP,
# where a bad section is refused and the running exporter goes on.
. "$(dirname "$0")/lib.sh"
port=$(free_port)
try() { # WANT_RC WANT_TEXT YAML
  printf '%b' "$3" > "$WORK/c.yaml"
  timeout 10 "$ACCELMON" --config "$WORK/c.yaml" --listen "127.0.0.1:$port" \
    >"$WORK/out" 2>"$WORK/err"
  rc=$?
  [ "$rc" = "$1" ] || fail "rc $rc, want $1 for: $3; $(cat "$WORK/err")"
  grep -qF -- "$2" "$WORK/err" || fail "no '$2' in: $(cat "$WORK/err")"
  ok "$2 (exit $rc)"
}
R='exporters:\n  remote_write:\n'
try 2 "c.yaml:3: exporters.remote_write.url: expected a list of strings or one string, got a mapping" "${R}    url: {a: 1}\n"
try 2 "c.yaml:4: exporters.remote_write.max_samples_per_request: 0 is out of range" "${R}    url: http://a\n    max_samples_per_request: 0\n"
try 2 "c.yaml:4: exporters.remote_write.spool: unknown key" "${R}    url: http://a\n    spool: /x\n"
# The exporter's own checks run when the config is loaded: FILE:LINE, exit 2.
try 2 "c.yaml:3: exporters.remote_write.url[1]: 'ftp://b' is not an http:// or https:// URL" "${R}    url: [http://a, ftp://b]\n"
try 2 "c.yaml:5: exporters.remote_write.url[1]: 'ftp://h/w' is not an http:// or https:// URL" "${R}    url:\n      - http://a\n      - ftp://user:s3cret@h/w\n"
grep -q s3cret "$WORK/err" && fail "password in: $(cat "$WORK/err")"
try 2 "c.yaml:2: exporters.remote_write.url: the remote_write exporter needs \`url\`" "${R}    interval: 1s\n"
try 2 "c.yaml:4: exporters.remote_write.external_labels[1]: 'node' is not name=value" "${R}    url: http://a\n    external_labels: [cluster=a, node]\n"
try 2 "c.yaml:4: exporters.remote_write.external_labels[0]: '9x' is not a label name" "${R}    url: http://a\n    external_labels: [9x=a]\n"
try 2 "c.yaml:4: exporters.remote_write.spool_max_size: '12 parsecs' is not a size" "${R}    url: http://a\n    spool_max_size: 12 parsecs\n"
try 2 "c.yaml:4: exporters.remote_write.bearer_token_file: /nonexistent: No such file or directory" "${R}    url: http://a\n    bearer_token_file: /nonexistent\n"
try 2 "c.yaml:4: exporters.remote_write.spool_dir: /nonexistent/sp: cannot be created in /nonexistent" "${R}    url: http://a\n    spool_dir: /nonexistent/sp\n"
try 2 "basic auth needs both basic_auth_username and basic_auth_password_file" "${R}    url: http://a\n    basic_auth_username: u\n"
try 2 "c.yaml:4: exporters.remote_write.headers[0]: Content-Type is set by the exporter" "${R}    url: http://a\n    headers: ['Content-Type: text/plain']\n"
try 2 "c.yaml:4: exporters.remote_write.headers[0]: not \"Name: value\"" "${R}    url: http://a\n    headers: [X-Tenant-s3cret]\n"
grep -q s3cret "$WORK/err" && fail "header value in: $(cat "$WORK/err")"
try 2 "exporters.remote_write.headers[0]: X-Tenant has no value, or a line break" "${R}    url: http://a\n    headers: ['X-Tenant:  ']\n"
try 2 "exporters.remote_write.headers[0]: Authorization is set by basic auth or bearer_token_file" "${R}    url: http://a\n    bearer_token_file: /dev/null\n    headers: ['Authorization: x']\n"
long="http://a/$(head -c 3000 /dev/zero | tr '\0' x)"
try 2 "c.yaml:3: exporters.remote_write.url[0]: longer than 2048 bytes" "${R}    url: [$long]\n"
# Endpoints with settings of their own: errors at the line of the value.
E="${R}    endpoints:\n"
try 2 "c.yaml:5: exporters.remote_write.endpoints[1].url: 'ftp://b' is not an http:// or https:// URL" "${E}      - url: http://a\n      - url: ftp://b\n        interval: 2s\n"
try 2 "c.yaml:5: exporters.remote_write.endpoints[0].spool: unknown key of an endpoint" "${E}      - url: http://a\n        spool: /x\n"
try 2 "c.yaml:5: exporters.remote_write.endpoints[0].basic_auth_username: unknown key of an endpoint (use basic_auth: {username, password_file})" "${E}      - url: http://a\n        basic_auth_username: u\n"
try 2 "c.yaml:6: exporters.remote_write.endpoints[1].interval: '5 parsecs' is not a duration" "${E}      - url: http://a\n      - url: http://b\n        interval: 5 parsecs\n"
try 2 "c.yaml:3: exporters.remote_write.endpoints.max_samples_per_request: '0' is out of range [1, 1000000]" "${R}    endpoints: {url: http://a, max_samples_per_request: 0}\n"
try 2 "c.yaml:6: exporters.remote_write.endpoints[0].external_labels.9x: '9x' is not a label name" "${E}      - url: http://a\n        external_labels:\n          9x: a\n"
try 2 "c.yaml:5: exporters.remote_write.endpoints[0].basic_auth: basic auth needs username and password_file" "${E}      - url: http://a\n        basic_auth: {username: u}\n"
try 2 "c.yaml:6: exporters.remote_write.endpoints[0].basic_auth.password_file: /nonexistent: No such file or directory" "${E}      - url: http://a\n        basic_auth:\n          password_file: /nonexistent\n          username: u\n"
try 2 "c.yaml:6: exporters.remote_write.endpoints[0].bearer_token_file: use basic_auth or a bearer token, not both" "${E}      - url: http://a\n        basic_auth: {username: u, password_file: /dev/null}\n        bearer_token_file: /dev/null\n"
try 2 "c.yaml:5: exporters.remote_write.endpoints[0].url: http://a is listed twice" "${R}    url: http://a\n    endpoints:\n      - url: http://a\n"
try 2 "c.yaml:4: exporters.remote_write.endpoints[0]: expected a map" "${E}      - http://a\n"
try 2 "c.yaml:4: exporters.remote_write.endpoints[0].url: an endpoint needs \`url\`" "${E}      - interval: 1s\n"
try 2 "c.yaml:5: exporters.remote_write.endpoints[0].headers.Content-Type: Content-Type is set by the exporter" "${E}      - url: http://a\n        headers: {Content-Type: text/plain}\n"
try 2 "c.yaml:4: exporters.remote_write.basic_auth: basic auth needs username and password_file" "${R}    url: http://a\n    basic_auth: {password_file: /dev/null}\n"
# A disabled section is not checked.
printf '%b' "${R}    enabled: false\n    url: ftp://x\n" > "$WORK/c.yaml"
timeout 10 "$ACCELMON" --config "$WORK/c.yaml" --once >/dev/null 2>"$WORK/err" || fail "disabled section checked: $(cat "$WORK/err")"
# A reload with a bad section is refused; the running exporter goes on.
rport=$(free_port); aport=$(free_port)
"$ABS_BUILDDIR/tests/rw_recv" "$rport" "$WORK/req.log" >"$WORK/recv.out" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null && break; sleep 0.1; done
rcfg() { # DEVICES [MORE REMOTE_WRITE OPTIONS]
  printf '%b' "collectors:\n  netdev: {enabled: false}\n  sim: {devices: $1}\n${R}    url: http://127.0.0.1:$rport/w\n    interval: 200ms\n${2:-}" > "$WORK/r.yaml"
}
rcfg 3
"$ACCELMON" --config "$WORK/r.yaml" --listen "127.0.0.1:$aport" >/dev/null 2>"$WORK/r.log" &
apid=$!; PIDS="$PIDS $apid"
for _ in $(seq 1 50); do grep -q "pushing to" "$WORK/r.log" && break; sleep 0.1; done
rcfg 3 "    spool_max_size: 1KiB\n"
kill -HUP "$apid"
for _ in $(seq 1 50); do grep -q "reload failed" "$WORK/r.log" && break; sleep 0.1; done
grep -q "reload failed, keeping the running config: .*r.yaml:8: exporters.remote_write.spool_max_size: '1KiB' is not a size" "$WORK/r.log" \
  || fail "bad reload not refused: $(cat "$WORK/r.log")"
grep -q "configuration reloaded" "$WORK/r.log" && fail "bad reload logged as done: $(cat "$WORK/r.log")"
n1=$(wc -l < "$WORK/req.log"); sleep 1; n2=$(wc -l < "$WORK/req.log")
[ "$n2" -gt "$n1" ] || fail "pushes stopped after a refused reload ($n1 -> $n2 lines)"
ok "a bad reload is refused and pushes go on ($n1 -> $n2 requests)"
# Series a reload removes get stale markers: the exporter goes on through a
# reload that leaves its options as they are (.keep), and one restarted by a
# changed option takes the last push's series over.
stale_after() { # LINES_BEFORE WHAT
  for _ in $(seq 1 50); do
    awk -v n="$1" 'NR > n && $8 > 0 { f = 1 } END { exit !f }' "$WORK/req.log" && break; sleep 0.1
  done
  awk -v n="$1" 'NR > n && $8 > 0 { f = 1 } END { exit !f }' "$WORK/req.log" ||
    fail "$2: no stale marker after the reload: $(tail -3 "$WORK/req.log")"
}
[ -z "$(awk '$8 > 0' "$WORK/req.log")" ] || fail "stale markers before any reload"
rcfg 2; n0=$(wc -l < "$WORK/req.log"); kill -HUP "$apid"
stale_after "$n0" "options unchanged"
[ "$(grep -c "pushing to" "$WORK/r.log")" = 1 ] || fail "exporter restarted by an unchanged reload"
rcfg 1 "    timeout: 3s\n"; n0=$(wc -l < "$WORK/req.log"); kill -HUP "$apid"
stale_after "$n0" "options changed"
[ "$(grep -c "pushing to" "$WORK/r.log")" = 2 ] || fail "exporter not restarted by a changed option"
ok "stale markers after a reload that keeps the exporter and after one that restarts it"
# A spool directory another agent holds is refused.
printf '%b' "${R}    url: http://127.0.0.1:9/w\n    spool_dir: $WORK/sp\n" > "$WORK/s.yaml"
"$ACCELMON" --config "$WORK/s.yaml" --listen "127.0.0.1:$(free_port)" >/dev/null 2>"$WORK/first.log" &
PIDS="$PIDS $!"
for _ in $(seq 1 50); do grep -q "pushing to" "$WORK/first.log" && break; sleep 0.1; done
try 1 "is in use by another agent" "${R}    url: http://127.0.0.1:9/w\n    spool_dir: $WORK/sp\n"
# A long URL (the self metrics' url label) keeps /metrics valid, and the
# spool of a URL with user:password is named without them: a new password
# finds what the old one queued, and no log line shows either.
sdir="$WORK/sp2"; mport=$(free_port)
long="http://u:pw1@127.0.0.1:9/$(head -c 1500 /dev/zero | tr '\0' x)"
run_sp() { # URL LOG
  printf '%b' "collectors:\n  sim: {devices: 1}\n${R}    url: $1\n    interval: 200ms\n    spool_dir: $sdir\n" > "$WORK/sp.yaml"
  "$ACCELMON" --config "$WORK/sp.yaml" --listen "127.0.0.1:$mport" >/dev/null 2>"$2" &
  spid=$!; PIDS="$PIDS $spid"
  for _ in $(seq 1 50); do grep -q "pushing to" "$2" && break; sleep 0.1; done
  wait_http "http://127.0.0.1:$mport/metrics" 10 || fail "no /metrics"
}
run_sp "$long" "$WORK/sp1.log"
for _ in $(seq 1 40); do
  curl -fsS "http://127.0.0.1:$mport/metrics" > "$WORK/long.prom"
  grep -q '^accelmon_remote_write_samples_sent_total' "$WORK/long.prom" && break; sleep 0.1
done
promtool check metrics < "$WORK/long.prom" >"$WORK/promtool.out" 2>&1
grep -q "error while linting\|parse error\|expected" "$WORK/promtool.out" && fail "long URL breaks /metrics: $(head -3 "$WORK/promtool.out")"
grep -q "accelmon_remote_write_samples_sent_total{url=\"http://127.0.0.1:9/x\{1500\}\"}" "$WORK/long.prom" || fail "long url label not whole"
# the receiver never answers: wait until the first push went to the spool
for _ in $(seq 1 100); do ls "$sdir"/*/seg-* >/dev/null 2>&1 && break; sleep 0.1; done
kill "$spid"; wait "$spid" 2>/dev/null
d1=$(ls "$sdir")
run_sp "${long/pw1/pw2}" "$WORK/sp2.log"
kill "$spid"; wait "$spid" 2>/dev/null
[ "$(ls "$sdir")" = "$d1" ] || fail "a new password made a new spool: $(ls "$sdir")"
ls "$sdir/$d1"/seg-* >/dev/null 2>&1 || fail "nothing spooled in $sdir/$d1"
grep -q 'pw[12]' "$WORK/sp1.log" "$WORK/sp2.log" "$sdir"/*/url && fail "password in a log"
ok "long URL: /metrics valid; spool $d1 kept across a password change"
echo "remote_write_config: all checks passed"
