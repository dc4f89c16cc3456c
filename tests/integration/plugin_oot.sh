#!/bin/bash
# Out-of-tree plugins: `make install DESTDIR=...`, build tests/plugin/*.c
# with only `pkg-config --cflags --libs accelmon` against the installed .pc,
# load them into the installed agent with `plugins:` / `plugin_dir:`, scrape,
# check the refusals (wrong ABI, short descriptor, no symbol, built-in or
# plugin name taken, unresolved am_* symbol, missing file: exit 2 and the
# documented line), two instances of one collector, and the rescan rate.
. "$(dirname "$0")/lib.sh"
need pkg-config
need curl
: "${ABS_BUILDDIR:?}"
: "${CC:=cc}"

# ---- install and find what was installed ----
install_staged "$WORK/root"
for h in collector.h schema.h util.h; do
  [ -n "$(find "$ROOT" -path "*/include/accelmon/$h")" ] || fail "$h not installed"
done
ok "installed: ${AGENT#$ROOT}, ${PC#$ROOT}, include/accelmon/{collector,schema,util}.h"

# pkg-config sees only the staged tree (install_staged).
PCFLAGS=$(pkg-config --cflags --libs accelmon) || fail "pkg-config accelmon"
case "$PCFLAGS" in *"-I$ROOT/"*) ;; *) fail "pkg-config --cflags: '$PCFLAGS' lacks the staged include dir" ;; esac
plugindir=$(pkg-config --variable=plugindir accelmon)
case "$plugindir" in */accelmon/plugins) ;; *) fail "plugindir variable: '$plugindir'" ;; esac
ok "pkg-config --cflags --libs accelmon: $PCFLAGS; plugindir ${plugindir#$ROOT}"

# Warnings as errors: the installed headers must compile clean in a plugin.
build() { # build OUT.so SOURCE [-DFLAG]
  local out=$1 src=$2; shift 2
  # shellcheck disable=SC2086
  $CC -std=gnu11 -Wall -Wextra -Wstrict-prototypes -Werror -shared -fPIC "$@" \
    -o "$WORK/$out" "$ABS_SRCDIR/tests/plugin/$src" $PCFLAGS 2>"$WORK/cc.err" ||
    fail "building $out: $(cat "$WORK/cc.err")"
}
build example.so example_plugin.c
build rescan.so test_plugins.c -DPLUGIN_RESCAN
for v in ABI1 SHORT NOSYM DUP UNDEF; do build "bad_$v.so" test_plugins.c "-DPLUGIN_$v"; done
cp "$WORK/example.so" "$WORK/example_copy.so"
ok "plugins built with only the pkg-config flags"

# Every am_* function of the installed headers that the core library defines
# is exported by the installed agent (what a plugin's RTLD_NOW load needs).
if command -v nm >/dev/null; then
  grep -ohE '\bam_[a-z0-9_]+\(' "$(dirname "$(find "$ROOT" -path '*/include/accelmon/collector.h')")"/*.h |
    tr -d '(' | sort -u >"$WORK/declared"
  nm "$ABS_BUILDDIR/libaccelmon.a" 2>/dev/null | awk '$2 == "T" { print $3 }' | sort -u >"$WORK/defined"
  nm -D --defined-only "$AGENT" | awk '{ print $3 }' | sort -u >"$WORK/exported"
  comm -12 "$WORK/declared" "$WORK/defined" >"$WORK/need"
  missing=$(comm -23 "$WORK/need" "$WORK/exported" | tr '\n' ' ')
  [ -z "$missing" ] || fail "the agent does not export: $missing"
  ok "$(wc -l <"$WORK/need") am_* functions defined and exported ($(comm -23 "$WORK/declared" "$WORK/defined" | wc -l) declared, not in this build)"
fi

mkdir -p "$WORK/sys" # no hardware: only the plugins find something
PROC="$FIXTURES/plugin/proc"
conf() { printf '%s\n' "$@" >"$WORK/c.yaml"; }

# ---- scrape a loaded plugin over HTTP ----
port=$(free_port)
conf "listen: 127.0.0.1:$port" "plugin_dir: \"\"" "plugins: [$WORK/example.so]" \
  "collectors:" "  example: {interval: 100ms}"
"$AGENT" --config "$WORK/c.yaml" --sysfs "$WORK/sys" --procfs "$PROC" \
  >"$WORK/agent.out" 2>"$WORK/agent.log" &
AGENT_PID=$!; PIDS="$PIDS $AGENT_PID"
wait_http "http://127.0.0.1:$port/metrics" || fail "agent with plugin did not come up: $(cat "$WORK/agent.log")"
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$port/metrics" >"$WORK/m" || fail "scrape"
  grep -q '^example_runnable_tasks' "$WORK/m" && break
  sleep 0.1
done
for want in 'example_load_average{source="example",window="1m"} 0.5' \
            'example_load_average{source="example",window="5m"} 1.25' \
            'example_load_average{source="example",window="15m"} 2.75' \
            'example_runnable_tasks{source="example"} 3' \
            'accelmon_collector_up{collector="example"} 1'; do
  grep -qxF "$want" "$WORK/m" || fail "scrape lacks '$want': $(grep example "$WORK/m")"
done
grep -q "example: plugin loaded from $WORK/example.so" "$WORK/agent.log" || fail "no load line in the log"
if command -v promtool >/dev/null; then
  promtool check metrics <"$WORK/m" >"$WORK/lint" 2>&1 || fail "promtool: $(cat "$WORK/lint")"
fi
ok "scraped the plugin's series over HTTP"

# SIGHUP: a plugin newly listed is loaded, the loaded one stays.
conf "listen: 127.0.0.1:$port" "plugin_dir: \"\"" "plugins: [$WORK/example.so, $WORK/rescan.so]" \
  "collectors:" "  example: {interval: 100ms}" "  rescan_count: {interval: 100ms}"
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$port/metrics" >"$WORK/m" || fail "scrape after reload"
  grep -q '^rescan_count_polls ' "$WORK/m" && grep -q '^example_runnable_tasks' "$WORK/m" && break
  sleep 0.1
done
grep -q '^rescan_count_polls ' "$WORK/m" || fail "reload did not load rescan.so: $(tail -5 "$WORK/agent.log")"
grep -qxF 'accelmon_collector_up{collector="example"} 1' "$WORK/m" || fail "example gone after reload"
ok "SIGHUP loaded a newly listed plugin; the loaded one kept running"
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null

# ---- plugin_dir: every *.so in it ----
mkdir -p "$WORK/pdir"; cp "$WORK/example.so" "$WORK/pdir/"; touch "$WORK/pdir/README"
conf "plugin_dir: $WORK/pdir" "collectors: {}"
"$AGENT" --config "$WORK/c.yaml" --sysfs "$WORK/sys" --procfs "$PROC" --once >"$WORK/o" 2>"$WORK/e" ||
  fail "plugin_dir run: $(cat "$WORK/e")"
grep -qxF 'example_runnable_tasks{source="example"} 3' "$WORK/o" || fail "plugin_dir: example not loaded: $(cat "$WORK/e")"
ok "plugin_dir: the .so in it was loaded"

# ---- refusals: exit 2, one line naming the file ----
refused() { # refused PLUGIN_PATH EXPECTED_LINE [more plugins first]
  local so=$1 want=$2 list=""; shift 2
  [ $# = 0 ] || list=$(printf '%s, ' "$@")
  conf "plugin_dir: \"\"" "plugins: [$list$so]"
  "$AGENT" --config "$WORK/c.yaml" --sysfs "$WORK/sys" --procfs "$PROC" --once --log-level warn \
    >"$WORK/o" 2>"$WORK/e"
  local rc=$?
  [ "$rc" = 2 ] || fail "$(basename "$so"): exit $rc, want 2: $(cat "$WORK/e")"
  [ "$(wc -l <"$WORK/e")" = 1 ] || fail "$(basename "$so"): want one line, got: $(cat "$WORK/e")"
  case "$want" in
    *'*'*) case "$(cat "$WORK/e")" in $want) ;; *) fail "$(basename "$so"): got '$(cat "$WORK/e")', want '$want'" ;; esac ;;
    *) [ "$(cat "$WORK/e")" = "$want" ] || fail "$(basename "$so"): got '$(cat "$WORK/e")', want '$want'" ;;
  esac
  ok "refused: $(cat "$WORK/e")"
}
refused "$WORK/bad_ABI1.so" "accelmon: $WORK/bad_ABI1.so: collector ABI version 1, this agent needs 2"
refused "$WORK/bad_SHORT.so" "accelmon: $WORK/bad_SHORT.so: collector descriptor is 16 bytes, ABI version 2 needs at least *"
refused "$WORK/bad_NOSYM.so" "accelmon: $WORK/bad_NOSYM.so: no accelmon_collector symbol (not an accelmon collector plugin)"
refused "$WORK/bad_DUP.so" "accelmon: $WORK/bad_DUP.so: collector name netdev is already defined by built-in"
refused "$WORK/example_copy.so" "accelmon: $WORK/example_copy.so: collector name example is already defined by $(realpath "$WORK/example.so")" "$WORK/example.so"
refused "$WORK/bad_UNDEF.so" "accelmon: $WORK/bad_UNDEF.so: cannot load plugin: *undefined symbol: am_no_such_function*"
refused "$WORK/nonexistent.so" "accelmon: $WORK/nonexistent.so: cannot load plugin: No such file or directory"
# The same file twice (as listed and through plugin_dir) loads once.
conf "plugin_dir: $WORK/pdir" "plugins: [$WORK/pdir/example.so, $WORK/pdir/../pdir/example.so]"
"$AGENT" --config "$WORK/c.yaml" --sysfs "$WORK/sys" --procfs "$PROC" --once >"$WORK/o" 2>"$WORK/e" ||
  fail "one file named three ways: $(cat "$WORK/e")"
ok "one file named three ways is loaded once"

# ---- two instances: own options, own collector label ----
conf "plugin_dir: \"\"" "plugins: [$WORK/example.so]" "collectors:" \
  "  example: {enabled: false}" \
  "  example/a: {windows: [1m]}" \
  "  example/b: {file: loadavg-b, windows: [15m], interval: 200ms}"
"$AGENT" --config "$WORK/c.yaml" --sysfs "$WORK/sys" --procfs "$PROC" --once >"$WORK/o" 2>"$WORK/e" ||
  fail "instances: $(cat "$WORK/e")"
for want in 'example_load_average{source="example/a",window="1m"} 0.5' \
            'example_runnable_tasks{source="example/a"} 3' \
            'example_load_average{source="example/b",window="15m"} 6' \
            'example_runnable_tasks{source="example/b"} 7' \
            'accelmon_collector_up{collector="example/a"} 1' \
            'accelmon_collector_up{collector="example/b"} 1'; do
  grep -qxF "$want" "$WORK/o" || fail "instances: no '$want': $(grep example "$WORK/o")"
done
! grep -q 'collector="example"}\|window="5m"\|source="example/a",window="15m"\|source="example/b",window="1m"' "$WORK/o" ||
  fail "instances: series of the disabled section or of the other instance's options: $(grep example "$WORK/o")"
grep -q 'example/b: reading .*loadavg-b (every 0.2s)' "$WORK/e" || fail "instances: log prefix and interval: $(cat "$WORK/e")"
ok "example/a and example/b: own options, interval, collector label"

# ---- rescan: calls counted against the polls made (12 in --once) ----
rescans() { # rescans RESCAN -> "polls rescans span_seconds"
  conf "plugin_dir: \"\"" "plugins: [$WORK/rescan.so]" "collectors:" \
    "  rescan_count: {interval: 100ms, rescan: $1}"
  "$AGENT" --config "$WORK/c.yaml" --sysfs "$WORK/sys" --once >"$WORK/o" 2>"$WORK/e" ||
    fail "rescan $1: $(cat "$WORK/e")"
  awk '$1 == "rescan_count_polls" { p = $2 } $1 == "rescan_count_rescans" { r = $2 }
       $1 == "rescan_count_span_seconds" { s = $2 } END { print p, r, s }' "$WORK/o"
}
check_rate() { # check_rate RESCAN_S POLLS RESCANS SPAN: rescans = span / rescan, +-1
  awk -v r="$1" -v p="$2" -v n="$3" -v s="$4" 'BEGIN {
    want = int(s / r + 1e-6); d = n - want; if (d < 0) d = -d
    exit !(p == 12 && d <= 1) }'
}
read -r p n s < <(rescans 300ms)
check_rate 0.3 "$p" "$n" "$s" || fail "rescan 300ms: $n rescans in $p polls over ${s}s"
[ "$n" -ge 2 ] || fail "rescan 300ms: only $n rescans in $p polls over ${s}s"
ok "rescan 300ms: $n rescans in $p polls over ${s}s (interval 100ms)"
read -r p n2 s < <(rescans 100ms)
check_rate 0.1 "$p" "$n2" "$s" || fail "rescan 100ms: $n2 rescans in $p polls over ${s}s"
[ "$n2" -gt "$n" ] || fail "rescan 100ms ($n2) not more often than 300ms ($n)"
ok "rescan 100ms: $n2 rescans in $p polls over ${s}s"
read -r p n s < <(rescans 0)
[ "$p" = 12 ] && [ "$n" = 0 ] || fail "rescan 0: $n rescans in $p polls"
ok "rescan 0: no rescans in $p polls"
