#!/bin/bash
# valgrind memcheck on a whole --once run: no errors, no leaks.
. "$(dirname "$0")/lib.sh"
need valgrind
if ldd "$ACCELMON" | grep -q 'lib[at]san'; then skip "sanitizer build"; fi
# the demo mix: every scenario, ports and the core's derived series
printf 'collectors:\n  sim: {devices: 5, demo: true}\n' > "$WORK/v.yaml"
valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
  --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
  "$ACCELMON" --once --config "$WORK/v.yaml" --sysfs "$FIXTURES/netdev/sys" \
  >"$WORK/out" 2>"$WORK/vg"
rc=$?
[ "$rc" = 0 ] || fail "valgrind exit $rc: $(grep -v '^accelmon' "$WORK/vg" | head -40)"
grep -q '^fabric_netdev_up{device="eth0"} 1$' "$WORK/out" || fail "no output under valgrind"
grep -q '^fabric_port_stat_saturated{device="simhca3",port="1",counter="port_rcv_errors"} 1$' "$WORK/out" ||
  fail "no simulated ports under valgrind"
# the attribution unit tests in one process (cgroup, pod and Slurm parsers):
# no read of uninitialised memory (leaks of the test harness not judged)
T="${ABS_BUILDDIR:?}/tests/test_attrib"
[ -x "$T" ] || fail "no $T (make check builds it)"
CK_FORK=no valgrind --quiet --error-exitcode=99 "$T" >"$WORK/ta" 2>&1 ||
  fail "valgrind test_attrib exit $?: $(grep '^==' "$WORK/ta" | head -40)"
ok "valgrind memcheck: clean"
