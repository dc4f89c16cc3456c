#!/bin/sh
# Optional: the HTML report renders in headless Chromium (Debian's chromium
# package). Generates four node-days of records, writes the report, takes a
# screenshot and checks it is a PNG of plausible size. Skipped (77) when
# chromium is not installed. SCREENSHOT_OUT=FILE keeps the picture.
set -u
: "${ABS_BUILDDIR:?}"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
	echo "audit_html: SKIP: chromium not installed (apt-get install chromium)"
	exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/amhtml.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
fail() { echo "audit_html: FAIL: $*"; exit 1; }

"$ABS_BUILDDIR/tests/rec_gen_cli" "$work" 4 1 8 2 0 || fail "generator failed"
"$ABS_BUILDDIR/accelmon-audit" --format html --output "$work/report.html" "$work" ||
	fail "accelmon-audit exited $?"
grep -q "<svg" "$work/report.html" || fail "no SVG in the report"
if grep -Eq "<script|<link|@import|url\(" "$work/report.html"; then
	fail "the report is not self-contained"
fi
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
	--disable-background-networking --disable-component-update \
	--no-first-run --user-data-dir="$work/profile" \
	--screenshot="$work/report.png" --window-size=1400,1600 \
	"file://$work/report.html" >"$work/chromium.log" 2>&1
[ -s "$work/report.png" ] || { tail -5 "$work/chromium.log"; fail "no screenshot"; }
sig=$(od -An -tx1 -N8 "$work/report.png" | tr -d ' \n')
[ "$sig" = 89504e470d0a1a0a ] || fail "screenshot is not a PNG"
bytes=$(wc -c <"$work/report.png")
[ "$bytes" -gt 20000 ] || fail "screenshot of $bytes bytes looks blank"
[ -n "${SCREENSHOT_OUT:-}" ] && cp "$work/report.png" "$SCREENSHOT_OUT"
echo "audit_html: PASS (screenshot $bytes bytes)"
exit 0
