#!/bin/bash
# Runs every built libFuzzer target (tests/fuzz/fuzz_*, from `make fuzz`) for
# FUZZ_SECONDS each, seeded from SEEDS/<name>/ (fuzz_config: SEEDS/config/)
# and writing what it finds to a scratch corpus, never into the source tree.
# Prints "PASS fuzz_x: N runs" or "FAIL fuzz_x" with the crash, then
# "fuzz: N passed, M failed"; exits 1 when any failed or none was built.
# FUZZ_JOBS (default: the CPUs) targets run side by side.
# The targets expected are those the `fuzz` aggregate builds, read from
# MAKEFILE (the Makefile automake made from Makefile.am: each target's
# recipe says "-o tests/fuzz/fuzz_x"; a configure-disabled one is commented
# out there): one missing from BINDIR is a FAIL "not built".
# usage: run.sh SEEDS BINDIR MAKEFILE
set -u
seeds=$1 bindir=$2 makefile=$3
expected=$(sed -n 's|^[^#].*-o tests/fuzz/\(fuzz_[A-Za-z0-9_]*\).*|\1|p' \
  "$makefile" | sort -u)
if [ -z "$expected" ]; then
  echo "FAIL fuzz: no fuzz target found in $makefile"
  exit 1
fi
secs=${FUZZ_SECONDS:-20}
work=$(mktemp -d /tmp/accelmon-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
# UBSan findings fail the run too (targets built without
# -fno-sanitize-recover would otherwise print and go on).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
for bin in "$bindir"/fuzz_*; do
  [ -x "$bin" ] && [ -f "$bin" ] || continue
  grep -qx "$(basename "$bin")" <<<"$expected" ||
    echo "note: $bin is not a target of $makefile; not run"
done
# run_one NAME: fuzzes one target; writes its verdict lines to
# $work/<short>/verdict, the first word PASS or FAIL.
run_one() {
  local name=$1 bin=$bindir/$1 short=${1#fuzz_} c
  local out=$work/$short/verdict
  mkdir -p "$work/$short/corpus" "$work/$short/crash"
  if ! [ -x "$bin" ] || ! [ -f "$bin" ]; then
    echo "FAIL $name: not built ($bin missing)" >"$out"
    return
  fi
  set -- "$work/$short/corpus"
  [ -d "$seeds/$short" ] && set -- "$@" "$seeds/$short"
  # -timeout: one input that takes 10 s is a hang, and a failure.
  if timeout $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/$short/crash/" "$@" >"$work/$short/log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$short/log")
    echo "PASS $name: ${runs:-?} runs in ${secs}s" >"$out"
  else
    { echo "FAIL $name:"
      grep -m1 -A30 'ERROR: \|==ERROR\|deadly signal\|timeout after' "$work/$short/log" |
        head -40
      for c in "$work/$short/crash"/*; do
        [ -f "$c" ] && { echo "  input ($c):"; od -c "$c" | head -8; }
      done; } >"$out"
  fi
}
# FUZZ_JOBS targets at a time (default: one per CPU), each for the full
# FUZZ_SECONDS; verdicts are printed in the list's order.
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
running=0
for name in $expected; do
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  run_one "$name" &
  running=$((running + 1))
done
wait
for name in $expected; do
  v=$work/${name#fuzz_}/verdict
  if [ -f "$v" ]; then cat "$v"; else echo "FAIL $name: no verdict"; fi
  case $(head -c 4 "$v" 2>/dev/null) in
    PASS) passed=$((passed + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
