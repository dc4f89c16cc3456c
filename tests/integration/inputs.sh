#!/bin/bash
# Inputs at startup: bad addresses and records options exit 2 naming
# FILE:LINE, a FIFO or device given as the config is refused at once (no
# wait for a writer), a 100,000-deep YAML list is rejected fast, and a config
# or plugin anyone may write to is warned about.
. "$(dirname "$0")/lib.sh"
: "${CC:=cc}"

# expect_exit CODE PATTERN ARGS...: accelmon exits CODE within 5 s and its
# stderr matches PATTERN.
expect_exit() {
  local code=$1 pat=$2 rc
  shift 2
  timeout 5 "$ACCELMON" "$@" >"$WORK/out" 2>"$WORK/err"; rc=$?
  [ "$rc" = "$code" ] || fail "accelmon $*: exit $rc, not $code: $(cat "$WORK/err")"
  grep -q -- "$pat" "$WORK/err" || fail "accelmon $*: no '$pat' in: $(cat "$WORK/err")"
}

expect_exit 2 "accelmon: --listen nohost: missing :PORT" --listen nohost
expect_exit 2 "accelmon: --listen nohost.invalid:9: " --listen nohost.invalid:9
printf 'log_level: info\nlisten: nohost.invalid:9917\n' >"$WORK/nh.yaml"
expect_exit 2 "accelmon: $WORK/nh.yaml:2: listen: nohost.invalid:9917: " --config "$WORK/nh.yaml"
ok "unresolvable listen hosts: exit 2, FILE:LINE"

rec() { printf 'exporters:\n  records:\n    dir: %s\n%s\n' "$1" "$2" >"$WORK/r.yaml"; }
rec /etc/passwd ""
expect_exit 2 "$WORK/r.yaml:3: exporters.records.dir: /etc/passwd is not a directory" --config "$WORK/r.yaml"
rec "$WORK/rec" "    keyframe_every: -1"
expect_exit 2 "$WORK/r.yaml:4: exporters.records.keyframe_every: -1 is out of range (1..100000)" --config "$WORK/r.yaml"
rec "$WORK/rec" "    max_file_size: 99999999999TiB"
expect_exit 2 "$WORK/r.yaml:4: exporters.records.max_file_size: '99999999999TiB' is not a size" --config "$WORK/r.yaml"
rec "$WORK/no/such/dir" ""
expect_exit 2 "$WORK/r.yaml:3: exporters.records.dir: $WORK/no/such/dir: cannot be created in $WORK/no/such" --config "$WORK/r.yaml"
printf 'exporters:\n  records: {}\n' >"$WORK/r.yaml"
expect_exit 2 "$WORK/r.yaml:2: exporters.records.dir: the records exporter needs .dir." --config "$WORK/r.yaml"
ok "bad records options: exit 2 at their line"

mkfifo "$WORK/fifo.yaml"
expect_exit 2 "$WORK/fifo.yaml: not a regular file" --config "$WORK/fifo.yaml"
expect_exit 2 "/dev/zero: not a regular file" --config /dev/zero
ok "a FIFO and a device as the config: refused at once"

python3 -c "print('a: ' + '[' * 100000 + ']' * 100000)" >"$WORK/deep.yaml"
t0=$(date +%s%N)
expect_exit 2 "$WORK/deep.yaml:1: nested deeper than 64 levels" --config "$WORK/deep.yaml"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 3000 ] || fail "the 100,000-deep list took $ms ms to reject"
ok "100,000-deep list rejected in $ms ms"

# A mode 0666 config naming a plugin, the plugin 0666 too: warned, and
# still loaded (refusing would break a running node's next reload).
$CC -std=gnu11 -shared -fPIC -I"$ABS_SRCDIR/agent" -o "$WORK/example.so" \
  "$ABS_SRCDIR/tests/plugin/example_plugin.c" 2>"$WORK/cc.err" || fail "example.so: $(cat "$WORK/cc.err")"
printf 'plugins: ["%s"]\nplugin_dir: ""\ncollectors:\n  netdev: {enabled: false}\n' \
  "$WORK/example.so" >"$WORK/w.yaml"
chmod 0666 "$WORK/w.yaml" "$WORK/example.so"
timeout 20 "$ACCELMON" --once --config "$WORK/w.yaml" --procfs "$FIXTURES/plugin/proc" \
  >"$WORK/once.prom" 2>"$WORK/err" || fail "--once with the plugin: $(cat "$WORK/err")"
grep -q "warn: config file $WORK/w.yaml is writable by every user (mode 0666)" "$WORK/err" ||
  fail "no warning for the 0666 config: $(cat "$WORK/err")"
grep -q "warn: plugin $WORK/example.so is writable by every user (mode 0666)" "$WORK/err" ||
  fail "no warning for the 0666 plugin: $(cat "$WORK/err")"
chmod 0644 "$WORK/w.yaml" "$WORK/example.so"
timeout 20 "$ACCELMON" --once --config "$WORK/w.yaml" --procfs "$FIXTURES/plugin/proc" \
  >"$WORK/once.prom" 2>"$WORK/err" || fail "--once: $(cat "$WORK/err")"
grep -q "writable by every user" "$WORK/err" && fail "warned about 0644 files: $(cat "$WORK/err")"
ok "0666 config and plugin: warned; 0644: not"
