#!/bin/bash
# The live page, GET /: one self-contained HTML page (no script, no external
# request: nothing but its own style, allowed by hash in a strict
# Content-Security-Policy), every simulated accelerator and port of
# `--simulate 8` with its figures and history charts, refreshing itself.
# Headless Chromium (Debian's) loads it: its rendered DOM must hold every
# device and port, it must report no CSP violation, and a screenshot is
# taken (tests/integration/live_page.png in the build tree); skipped with a
# message where Chromium is absent.
. "$(dirname "$0")/lib.sh"
need curl
need python3

port=$(free_port)
url="http://127.0.0.1:$port/"
start_agent --simulate 8 --listen "127.0.0.1:$port"
wait_http "${url}-/healthy" || fail "agent did not come up: $(cat "$WORK/agent.log")"
sleep 11 # three history points (one every 5 s)
curl -fsS -D "$WORK/h" -o "$WORK/page.html" "$url" || fail "GET / failed"
tr -d '\r' < "$WORK/h" > "$WORK/headers"

python3 - "$WORK/headers" "$WORK/page.html" <<'EOF' || fail "page checks"
import base64, hashlib, re, sys
hdr = open(sys.argv[1]).read()
page = open(sys.argv[2], encoding="utf-8").read()
def need(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)
h = {}
for line in hdr.splitlines()[1:]:
    if ":" in line:
        k, v = line.split(":", 1)
        h[k.strip().lower()] = v.strip()
need(h.get("content-type") == "text/html; charset=utf-8", "content type: %r" % h.get("content-type"))
csp = h.get("content-security-policy", "")
need("default-src 'none'" in csp, "CSP without default-src 'none': %r" % csp)
need("unsafe" not in csp and "script-src" not in csp, "CSP allows too much: %r" % csp)
styles = re.findall(r"<style>(.*?)</style>", page, re.S)
need(len(styles) == 1, "want one <style>, got %d" % len(styles))
digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
need("'sha256-%s'" % digest in csp, "the style's hash sha256-%s is not in the CSP %r" % (digest, csp))
need(not re.search(r"<script|<link|<img|<iframe|\bsrc=|url\(|https?://|@import", page, re.I),
     "the page refers to something outside itself")
need(re.search(r'<meta http-equiv="refresh" content="\d+">', page), "no meta refresh")
need(h.get("x-content-type-options") == "nosniff", "no nosniff")
for i in range(8):
    need('data-name="sim%d"' % i in page, "sim%d not on the page" % i)
    need('data-name="simhca%d/1"' % i in page, "simhca%d port 1 not on the page" % i)
# sim0 trains at 95%; sim3 (failing) is up in its first minute
need(re.search(r'data-name="sim0"><td>sim0</td><td>SIM-A80</td><td class="up">up</td><td><span class="v">95%', page),
     "sim0's row: " + re.search(r'<tr class="device" data-name="sim0">.{0,200}', page).group(0))
charts = re.findall(r'points="([^"]*)"', page)
need(charts, "no history chart")
need(max(len(c.split()) for c in charts) >= 2, "history charts have under 2 points")
need(max(len(c.split()) for c in charts) <= 120, "a chart has over 120 points")
print("ok: CSP %s; 8 accelerators and 8 ports, %d charts, %d bytes" % (csp.split(";")[1].strip(), len(charts), len(page)))
EOF
ok "GET /: self-contained, strict CSP with the style's hash, every simulated device and port"

# HEAD answers too, without a body
[ "$(curl -fsS -I "$url" | tr -d '\r' | grep -ci '^content-security-policy:')" = 1 ] || fail "HEAD / without the CSP"

chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
  echo "SKIP: chromium is not installed: the page was not rendered (apt-get install chromium)"
  exit 77
fi
# A profile of its own, so parallel runs and the user's profile stay apart.
copts=(--headless --no-sandbox --disable-gpu --user-data-dir="$WORK/chrome" --no-first-run
  --enable-logging=stderr --v=0)
timeout 60 "$chrome" "${copts[@]}" --dump-dom "$url" > "$WORK/dom.html" 2> "$WORK/chrome.log" ||
  fail "chromium --dump-dom failed: $(tail -5 "$WORK/chrome.log")"
for i in $(seq 0 7); do
  grep -q "data-name=\"sim$i\"" "$WORK/dom.html" || fail "sim$i not in the rendered DOM"
  grep -q "data-name=\"simhca$i/1\"" "$WORK/dom.html" || fail "simhca$i not in the rendered DOM"
done
n=$(grep -o '<tr class="device"' "$WORK/dom.html" | wc -l)
[ "$n" = 8 ] || fail "rendered DOM has $n device rows, want 8"
grep -i 'Content Security Policy\|Refused to' "$WORK/chrome.log" && fail "Chromium reports a CSP violation"
ok "Chromium: the rendered DOM holds all 8 simulated accelerators and 8 ports; no CSP violation"
shot="${ABS_BUILDDIR:-$ABS_SRCDIR}/tests/integration/live_page.png"
rm -f "$shot"
timeout 60 "$chrome" "${copts[@]}" --hide-scrollbars --window-size=1400,900 \
  --screenshot="$shot" "$url" > /dev/null 2>> "$WORK/chrome.log" ||
  fail "chromium --screenshot failed: $(tail -5 "$WORK/chrome.log")"
[ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "no PNG at $shot"
ok "Chromium screenshot: $shot ($(wc -c < "$shot") bytes)"
echo "live_page: all checks passed"
