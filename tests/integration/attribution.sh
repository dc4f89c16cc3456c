#!/bin/bash
# Agent-level test of attribution (collectors/attribution.md): `accelmon
# --once --procfs` on the procfs fixture with the fake libnvidia-ml.so.1 of a
# GPU shared by a Slurm job and a Kubernetes pod: the accel_job_* lines as
# exported, promtool's lint, and the job shares adding up to the device.
# Env (set by make check): ACCELMON, ABS_SRCDIR, ABS_BUILDDIR. Exit 0 pass,
# 1 fail, 77 skip (promtool missing).
set -u

: "${ACCELMON:?ACCELMON not set}" "${ABS_SRCDIR:?}" "${ABS_BUILDDIR:?}"
PROCFS=$ABS_SRCDIR/tests/fixtures/procfs/node
LIB=$ABS_BUILDDIR/tests/fake_nvml/libnvidia-ml.so.1
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
if [ -z "$PROMTOOL" ]; then
	echo "SKIP: promtool not found"
	exit 77
fi
[ -f "$LIB" ] || { echo "FAIL: $LIB not built"; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/attrib_it.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

cat > "$TMP/cfg.yaml" <<CFG
collectors:
  netdev: {enabled: false}
  nvml: {library: $LIB, interval: 200ms, event_wait: 1ms, pcie: false}
CFG
if ! FAKE_NVML_SCENARIO=$ABS_SRCDIR/tests/fixtures/procfs/nvml_shared.ini "$ACCELMON" \
	--once --config "$TMP/cfg.yaml" --procfs "$PROCFS" > "$TMP/out.prom" 2> "$TMP/err"; then
	echo "FAIL: accelmon --once: $(cat "$TMP/err")"
	exit 1
fi
if "$PROMTOOL" check metrics < "$TMP/out.prom" > "$TMP/lint" 2>&1; then
	ok "promtool check metrics"
else
	fail "promtool check metrics: $(cat "$TMP/lint")"
fi
D='device="nvidia0",uuid="GPU-5a4ed000-0000-4000-8000-000000000000"'
POD=0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b
for line in \
	"accel_job_info{$D,job=\"4242\",kind=\"slurm\",user=\"1000\",step=\"0\",container=\"\",namespace=\"\",pod=\"\"} 1" \
	"accel_job_memory_used_bytes{$D,job=\"4242\",kind=\"slurm\"} 8589934592" \
	"accel_job_memory_used_bytes{$D,job=\"$POD\",kind=\"kubernetes\"} 6442450944"; do
	if grep -Fxq -- "$line" "$TMP/out.prom"; then ok "$line"; else fail "missing: $line"; fi
done
# --once polls twice: one interval, whatever its length; the jobs' busy
# seconds and energy add up to what the device's counters grew by in it
sum() { grep -F "$1{$D," "$TMP/out.prom" | awk '{s += $NF} END {printf "%.9f", s}'; }
dev() { grep -F "$1{$D}" "$TMP/out.prom" | awk '{printf "%.9f", $NF}'; }
busy=$(dev accel_busy_seconds_total) jobs=$(sum accel_job_busy_seconds_total)
slurm=$(grep -F "accel_job_busy_seconds_total{$D,job=\"4242\"" "$TMP/out.prom" | awk '{print $NF}')
if awk -v a="$busy" -v b="$jobs" -v s="$slurm" \
	'BEGIN { exit !(a > 0 && (a - b < 1e-6 && b - a < 1e-6) && (s / a - 0.75 < 1e-6 && 0.75 - s / a < 1e-6)) }'; then
	ok "job busy seconds $jobs = device's $busy, slurm 4242 has 3/4"
else
	fail "job busy seconds $jobs, device $busy, slurm 4242 $slurm"
fi
je=$(sum accel_job_energy_joules_total)
if awk -v e="$je" 'BEGIN { exit !(e - 300 < 1e-6 && 300 - e < 1e-6) }'; then
	ok "job energy $je J = the device's 300 J of the interval"
else
	fail "job energy $je J, want 300"
fi
[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "PASS"
