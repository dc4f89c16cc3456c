#!/bin/bash
# remote_write configuration errors: types and ranges are refused with the
# file (FILE:LINE, exit 2); the exporter's own checks name
# exporters.remote_write.KEY and the agent does not run on (exit 1).
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
try 1 "exporters.remote_write.url[1]: 'ftp://b' is not an http:// or https:// URL" "${R}    url: [http://a, ftp://b]\n"
try 1 "exporters.remote_write.url: the remote_write exporter needs \`url\`" "${R}    interval: 1s\n"
try 1 "exporters.remote_write.external_labels[1]: 'node' is not name=value" "${R}    url: http://a\n    external_labels: [cluster=a, node]\n"
try 1 "exporters.remote_write.external_labels[0]: '9x' is not a label name" "${R}    url: http://a\n    external_labels: [9x=a]\n"
try 1 "exporters.remote_write.spool_max_size: '12 parsecs' is not a size" "${R}    url: http://a\n    spool_max_size: 12 parsecs\n"
try 1 "exporters.remote_write.bearer_token_file: /nonexistent: No such file or directory" "${R}    url: http://a\n    bearer_token_file: /nonexistent\n"
try 1 "basic auth needs both basic_auth_username and basic_auth_password_file" "${R}    url: http://a\n    basic_auth_username: u\n"
try 1 "exporters.remote_write.headers[0]: Content-Type is set by the exporter" "${R}    url: http://a\n    headers: ['Content-Type: text/plain']\n"
try 1 "exporters.remote_write.headers[0]: 'X-Tenant' is not \"Name: value\"" "${R}    url: http://a\n    headers: [X-Tenant]\n"
try 1 "exporters.remote_write.headers[0]: Authorization is set by basic auth or bearer_token_file" "${R}    url: http://a\n    bearer_token_file: /dev/null\n    headers: ['Authorization: x']\n"
# A spool directory another agent holds is refused.
printf '%b' "${R}    url: http://127.0.0.1:9/w\n    spool_dir: $WORK/sp\n" > "$WORK/s.yaml"
"$ACCELMON" --config "$WORK/s.yaml" --listen "127.0.0.1:$(free_port)" >/dev/null 2>"$WORK/first.log" &
PIDS="$PIDS $!"
for _ in $(seq 1 50); do grep -q "pushing to" "$WORK/first.log" && break; sleep 0.1; done
try 1 "is in use by another agent" "${R}    url: http://127.0.0.1:9/w\n    spool_dir: $WORK/sp\n"
echo "remote_write_config: all checks passed"
