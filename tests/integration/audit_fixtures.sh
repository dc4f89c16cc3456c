#!/bin/sh
# Old record files stay readable: accelmon-audit reads each committed
# directory of tests/fixtures/records (one per format version, written by
# the agent of that version) and must print exactly the figures kept beside
# it, in JSON, CSV and table form, and exit 0 (every frame read).
set -u
: "${ABS_BUILDDIR:?}" "${ABS_SRCDIR:?}"
AUDIT="$ABS_BUILDDIR/accelmon-audit"
FIX="$ABS_SRCDIR/tests/fixtures/records"
work=$(mktemp -d "${TMPDIR:-/tmp}/amfix.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
fail() { echo "audit_fixtures: FAIL: $*"; exit 1; }

n=0
for dir in "$FIX"/v*/; do
	v=$(basename "$dir")
	for fmt in json csv table; do
		ext=$fmt
		[ "$fmt" = table ] && ext=txt
		want="$FIX/$v.audit.$ext"
		[ -f "$want" ] || fail "$want missing (expected figures of $v)"
		"$AUDIT" --format "$fmt" "$dir" >"$work/got" 2>"$work/err"
		st=$?
		[ "$st" = 0 ] || { cat "$work/err"; fail "$v: audit --format $fmt exited $st"; }
		[ -s "$work/err" ] && { cat "$work/err"; fail "$v: warnings while reading"; }
		diff -u "$want" "$work/got" || fail "$v: --format $fmt figures changed"
	done
	batches=$(grep -o '"batches": [0-9]*' "$FIX/$v.audit.json" | head -1)
	echo "audit_fixtures: $v: same figures in json, csv and table ($batches)"
	n=$((n + 1))
done
[ "$n" -ge 1 ] || fail "no record fixtures under $FIX"
echo "audit_fixtures: PASS ($n format versions)"
exit 0
