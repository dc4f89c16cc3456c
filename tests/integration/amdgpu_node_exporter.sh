#!/bin/sh
# Reference test for the amdgpu collector: Debian's prometheus-node-exporter
# (drm collector) and accelmon read the same sysfs fixture trees; busy ratio
# x 100 must equal node_drm_gpu_busy_percent and every memory figure must
# equal node_drm_memory_*. Also lints our exposition with promtool.
# Env (from `make check`): ACCELMON, ABS_SRCDIR, ABS_BUILDDIR.
# Exit 0 pass, 1 fail, 77 skip (node_exporter, promtool or curl missing).
set -u

NE=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
SRC=${ABS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
ACCELMON=${ACCELMON:-$SRC/accelmon}

for tool in "$NE" "$PROMTOOL"; do
	if [ ! -x "$tool" ]; then
		echo "SKIP: $tool not installed"
		exit 77
	fi
done
if ! command -v curl >/dev/null 2>&1; then
	echo "SKIP: curl not installed"
	exit 77
fi
if [ ! -x "$ACCELMON" ]; then
	echo "FAIL: accelmon binary not found at $ACCELMON"
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/amdgpu_ne.XXXXXX")
NE_PID=
cleanup() {
	if [ -n "$NE_PID" ]; then
		kill "$NE_PID" 2>/dev/null
		wait "$NE_PID" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Only the amdgpu collector: the fixture trees have nothing else.
cat >"$WORK/accelmon.yml" <<YML
collectors:
  netdev: {enabled: false}
  amdgpu: {}
YML

# Start node_exporter on a free port; waits until it answers.
start_ne() {
	tree=$1
	for try in 1 2 3 4 5; do
		PORT=$((10000 + ($$ * 7 + try * 131) % 22000)) # below the ephemeral ports
		"$NE" --collector.disable-defaults --collector.drm \
			--path.sysfs="$tree" \
			--web.listen-address=127.0.0.1:$PORT \
			>"$WORK/ne.log" 2>&1 &
		NE_PID=$!
		i=0
		while [ $i -lt 50 ]; do
			if curl -sf "http://127.0.0.1:$PORT/metrics" \
				>"$WORK/ne.prom" 2>/dev/null; then
				return 0
			fi
			if ! kill -0 "$NE_PID" 2>/dev/null; then
				break
			fi
			sleep 0.1
			i=$((i + 1))
		done
		kill "$NE_PID" 2>/dev/null
		wait "$NE_PID" 2>/dev/null
		NE_PID=
	done
	echo "FAIL: node_exporter did not start:"
	cat "$WORK/ne.log"
	return 1
}

stop_ne() {
	kill "$NE_PID" 2>/dev/null
	wait "$NE_PID" 2>/dev/null
	NE_PID=
}

fail=0
checks=0
for name in mi300x radeon; do
	# a writable copy: the MI300X cards get gpu_metrics tables (not
	# committed), which node_exporter ignores and accelmon reads
	tree=$WORK/$name
	sh "$SRC/tests/fixtures/amdgpu/mktree.sh" "$SRC/tests/fixtures/amdgpu/$name" "$tree" ||
		{ echo "FAIL: mktree $name"; exit 1; }
	if ! "$ACCELMON" --once --sysfs "$tree" --config "$WORK/accelmon.yml" \
		>"$WORK/am.prom" 2>"$WORK/am.err"; then
		echo "FAIL: accelmon --once on $name:"
		cat "$WORK/am.err"
		exit 1
	fi
	if ! "$PROMTOOL" check metrics <"$WORK/am.prom" >"$WORK/lint" 2>&1; then
		echo "FAIL: promtool check metrics on accelmon's $name output:"
		cat "$WORK/lint"
		fail=1
	fi
	if [ $name = mi300x ]; then
		for want in \
			'fabric_xgmi_read_bytes_total{device="amdgpu3",link="0"} 1024'; do
			if ! grep -qxF "$want" "$WORK/am.prom"; then
				echo "FAIL: $name: accelmon output lacks: $want"
				fail=1
			fi
		done
		# the fixture's tables are static: an accumulator that stands
		# still while hwmon reads 420 W is not an energy source, so the
		# energy is power integrated over the two polls (> 0 J)
		if ! grep -q 'amdgpu7: gpu_metrics energy_accumulator does not advance while power is 420.0 W' "$WORK/am.err" ||
			! awk '$1 == "accel_energy_joules_total{device=\"amdgpu7\",uuid=\"5c3a1f07a1b2c307\"}" && $2 > 0 { f = 1 } END { exit !f }' "$WORK/am.prom"; then
			echo "FAIL: $name: amdgpu7's energy is not power integrated (with the log line)"
			fail=1
		fi
	fi
	start_ne "$tree" || exit 1
	stop_ne

	# node_exporter 1.5 also lists non-amdgpu cards (all zeros); compare
	# the cards whose uevent names the amdgpu driver, as accelmon does.
	amd=""
	for ue in "$tree"/class/drm/card*/device/uevent; do
		c=${ue%/device/uevent}
		c=${c##*/card}
		case $c in *[!0-9]*) continue ;; esac
		if grep -q '^DRIVER=amdgpu$' "$ue"; then
			amd="$amd $c"
		else
			echo "note: $name: card$c is not amdgpu; node_exporter's zeros for it are not compared"
		fi
	done

	# Pairs: node_exporter family = accelmon family (+ pool label).
	out=$(awk -v tree="$name" -v amd="$amd" '
	function lab(line, key,    re, s) {
		re = key "=\"[^\"]*\""
		if (!match(line, re)) return ""
		s = substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 3)
		return s
	}
	function num(line) { return $NF + 0 }
	BEGIN { n = split(amd, l, " "); for (i = 1; i <= n; i++) isamd[l[i]] = 1 }
	FNR == 1 { file++ }
	/^#/ { next }
	file == 1 {   # node_exporter
		n = lab($0, "card"); sub(/^card/, "", n)
		split($1, a, "{"); fam = a[1]
		if (fam ~ /^node_drm_(gpu_busy_percent|memory_)/ && (n in isamd)) ne[fam, n] = num($0)
		next
	}
	file == 2 {   # accelmon
		d = lab($0, "device"); if (d !~ /^amdgpu/) next
		n = d; sub(/^amdgpu/, "", n)
		split($1, a, "{"); fam = a[1]; p = lab($0, "pool")
		if (fam == "accel_utilization_ratio") am["node_drm_gpu_busy_percent", n] = 100 * num($0)
		if (fam == "accel_memory_pool_total_bytes") {
			f = (p == "vram") ? "vram" : (p == "vis_vram") ? "vis_vram" : "gtt"
			am["node_drm_memory_" f "_size_bytes", n] = num($0)
		}
		if (fam == "accel_memory_pool_used_bytes") {
			f = (p == "vram") ? "vram" : (p == "vis_vram") ? "vis_vram" : "gtt"
			am["node_drm_memory_" f "_used_bytes", n] = num($0)
		}
		if (fam == "accel_memory_total_bytes") vram_total[n] = num($0)
		if (fam == "accel_memory_used_bytes") vram_used[n] = num($0)
	}
	END {
		bad = 0; ok = 0
		for (k in ne) {
			split(k, kk, SUBSEP)
			if (!((kk[1], kk[2]) in am)) {
				printf "FAIL %s: accelmon has no counterpart of %s{card=\"card%s\"} (%s)\n", tree, kk[1], kk[2], ne[k]
				bad++; continue
			}
			diff = am[k] - ne[k]; if (diff < 0) diff = -diff
			if (diff > 1e-9 * (ne[k] < 0 ? -ne[k] : ne[k]) + 1e-9) {
				printf "FAIL %s: %s card%s: node_exporter %.17g, accelmon %.17g\n", tree, kk[1], kk[2], ne[k], am[k]
				bad++
			} else ok++
		}
		for (k in am) {
			split(k, kk, SUBSEP)
			if (!(k in ne)) { printf "FAIL %s: node_exporter has no %s{card=\"card%s\"}\n", tree, kk[1], kk[2]; bad++ }
		}
		for (n in vram_total)
			if (vram_total[n] != ne["node_drm_memory_vram_size_bytes", n]) { printf "FAIL %s: accel_memory_total_bytes amdgpu%s\n", tree, n; bad++ } else ok++
		for (n in vram_used)
			if (vram_used[n] != ne["node_drm_memory_vram_used_bytes", n]) { printf "FAIL %s: accel_memory_used_bytes amdgpu%s\n", tree, n; bad++ } else ok++
		printf "%s %d %d\n", (bad ? "BAD" : "OK"), ok, bad
	}' "$WORK/ne.prom" "$WORK/am.prom")
	echo "$out" | grep -v '^OK \|^BAD '
	last=$(echo "$out" | tail -n 1)
	set -- $last
	if [ "$1" != OK ] || [ "$2" -eq 0 ]; then
		echo "FAIL: $name: $3 mismatches, $2 matches"
		fail=1
	else
		echo "ok: $name: $2 values equal between node_exporter and accelmon"
		checks=$((checks + $2))
	fi
done

if [ $fail -ne 0 ]; then
	exit 1
fi
echo "PASS: $checks node_exporter drm values matched; promtool clean"
exit 0
