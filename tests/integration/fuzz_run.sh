#!/bin/bash
# tests/fuzz/run.sh runs every target the `fuzz` aggregate builds (read from
# the Makefile) and fails when one of them was not built, rather than
# passing on the ones that were. Fake targets: nothing is fuzzed here.
. "$(dirname "$0")/lib.sh"
run="$ABS_SRCDIR/tests/fuzz/run.sh"
mkdir -p "$WORK/bin" "$WORK/seeds"
cat >"$WORK/Makefile" <<'MK'
fuzz-a:
	$(FUZZ_CC) a.c -o tests/fuzz/fuzz_a
#fuzz-off:
#	$(FUZZ_CC) off.c -o tests/fuzz/fuzz_off
fuzz-b:
	$(FUZZ_CC) $(FUZZ_CFLAGS) \
		-I. -o tests/fuzz/fuzz_b \
		b.c
MK
fake() { # a target that "runs" and says how many inputs it ran
  printf '#!/bin/sh\necho "stat::number_of_executed_units: 7"\n' >"$WORK/bin/$1"
  chmod +x "$WORK/bin/$1"
}
fake fuzz_a
FUZZ_SECONDS=1 bash "$run" "$WORK/seeds" "$WORK/bin" "$WORK/Makefile" >"$WORK/out" 2>&1 &&
  fail "passed with fuzz_b not built: $(cat "$WORK/out")"
grep -q '^FAIL fuzz_b: not built' "$WORK/out" || fail "no FAIL for fuzz_b: $(cat "$WORK/out")"
grep -q '^PASS fuzz_a: 7 runs' "$WORK/out" || fail "fuzz_a not run: $(cat "$WORK/out")"
grep -q '^fuzz: 1 passed, 1 failed' "$WORK/out" || fail "$(cat "$WORK/out")"
fake fuzz_b
FUZZ_SECONDS=1 bash "$run" "$WORK/seeds" "$WORK/bin" "$WORK/Makefile" >"$WORK/out" 2>&1 ||
  fail "failed with both built: $(cat "$WORK/out")"
grep -q '^fuzz: 2 passed, 0 failed' "$WORK/out" || fail "$(cat "$WORK/out")"
ok "run.sh: a target of the Makefile not built fails the run; a commented-out one is not expected"
# The real Makefile: every target of the `fuzz` aggregate names its output.
n=$(sed -n 's|^[^#].*-o tests/fuzz/\(fuzz_[A-Za-z0-9_]*\).*|\1|p' Makefile | sort -u | wc -l)
[ "$n" -ge 12 ] || fail "only $n fuzz targets found in the Makefile"
ok "the Makefile's fuzz aggregate: $n targets expected"
