#!/bin/bash
# Golden exposition test: `accelmon --once` on every fixture tree and NVML
# scenario (one collector per case) must print what tests/golden/<case>.prom
# froze, in canonical form (agent's own accelmon_*/process_* families
# dropped, families and samples sorted, values that depend on the wall-clock
# time between the two polls masked by the MASK list below); any difference
# fails with a unified diff. Each raw output must also pass `promtool check
# metrics` but for the findings in PROMTOOL_ALLOW.
# GOLDEN_UPDATE=1 (or `make golden-update`) rewrites the golden files.
# Env (set by make check): ACCELMON, ABS_SRCDIR, ABS_BUILDDIR. Exit 0 pass,
# 1 fail, 77 skip (golden files match but promtool is not installed).
set -u

SRC=${ABS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${ABS_BUILDDIR:-$SRC}
ACCELMON=${ACCELMON:-$BUILD/accelmon}
FIX=$SRC/tests/fixtures
GOLDEN=$SRC/tests/golden
LIB=$BUILD/tests/fake_nvml/libnvidia-ml.so.1
OLDLIB=$BUILD/tests/fake_nvml/old/libnvidia-ml.so.1
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
UPDATE=${GOLDEN_UPDATE:-0}

# Samples whose value is the product of the wall-clock time between the two
# --once polls (about 200 ms, never exactly the same), one line each:
# CASES (comma-separated globs) FAMILY...; only the value is replaced by
# <masked>, the series and its labels stay frozen. Every entry was seen to
# differ over three runs; nothing else varies, so nothing else is masked.
MASK="
sim,amdgpu_*           accel_busy_seconds_total
nvml_a100,nvml_h100,nvml_hang,nvml_lost,nvml_lost_late,nvml_old,nvml_procs535,nvml_rescan,nvml_t4 accel_busy_seconds_total
sim,amdgpu_*,nvml_old,nvml_rescan,nvml_t4 accel_energy_joules_total
nvml_a100,nvml_h100,nvml_old,nvml_t4,amdgpu_mi300x accel_pcie_receive_bytes_total accel_pcie_transmit_bytes_total
nvml_a100,nvml_h100,nvml_old accel_throttled_seconds_total
"
# Why: busy seconds integrate the utilization ratio over dt; energy
# integrates power over dt where the device has no energy counter (sim, the
# Radeon and Hygon trees without gpu_metrics, the MI300X tree whose static
# tables' accumulator does not advance, T4, the old driver, the rescan
# scenario); PCIe bytes integrate NVML's KB/s throughput and amdgpu's
# pcie_bw rate; NVML's throttle seconds integrate
# the active reasons over dt.

# Findings `promtool check metrics` may report and that are accepted (one
# per line, exactly as promtool prints them). Empty: every output is clean.
# An entry no case reports any more fails the test, so the list cannot go
# stale.
PROMTOOL_ALLOW=""

[ -x "$ACCELMON" ] || { echo "FAIL: accelmon binary not found: $ACCELMON"; exit 1; }
for f in "$LIB" "$OLDLIB"; do
	[ -f "$f" ] || { echo "FAIL: $f not built (make check builds it)"; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/golden.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

# config COLLECTOR [OPTIONS]: only that collector (the others off by name),
# polled every 200 ms, into $TMP/cfg.yaml.
config() {
	{
		echo "collectors:"
		for c in netdev sim amdgpu drm infiniband nvml ascend; do
			[ "$c" = "$1" ] || echo "  $c: {enabled: false}"
		done
		echo "  $1: {interval: 200ms${2:+, $2}}"
	} > "$TMP/cfg.yaml"
}

# The cases, in a fixed order; every NVML scenario file is one.
CASES="netdev sim"
for t in ndr8 roce oldkernel down saturated garbage; do CASES="$CASES ib_$t"; done
for t in mi300x radeon hygon bad; do CASES="$CASES amdgpu_$t"; done
for f in "$FIX"/nvml/*.ini; do
	n=${f##*/}
	CASES="$CASES nvml_${n%.ini}"
done

# run_case NAME OUT: accelmon --once for the case, exposition in OUT.
run_case() {
	local name=$1 out=$2 sysfs tree coll
	local -a env=()
	case $name in
	netdev)
		config netdev
		sysfs=$FIX/netdev/sys
		;;
	sim)
		config sim "devices: 2"
		sysfs=$FIX/netdev/sys
		;;
	ib_* | amdgpu_*)
		# a writable sysfs root made by the fixture's own mktree.sh
		# (symlinks, test-made gpu_metrics tables)
		coll=${name%%_*}
		[ "$coll" = ib ] && coll=infiniband
		tree=$TMP/tree.$name
		rm -rf "$tree"
		sh "$FIX/$coll/mktree.sh" "$FIX/$coll/${name#*_}" "$tree" || return 1
		config "$coll"
		sysfs=$tree
		;;
	nvml_old)
		# the old-driver build: unversioned symbols, NUMA node from sysfs
		config nvml "library: $OLDLIB, timeout: 500ms"
		sysfs=$FIX/nvml/sysfs
		env=(FAKE_NVML_SCENARIO="$FIX/nvml/old.ini")
		;;
	nvml_*)
		config nvml "library: $LIB, timeout: 500ms"
		sysfs=$FIX/nvml/sysfs
		env=(FAKE_NVML_SCENARIO="$FIX/nvml/${name#nvml_}.ini")
		;;
	*)
		echo "no such case: $name"
		return 1
		;;
	esac
	env "${env[@]}" "$ACCELMON" --once --sysfs "$sysfs" --config "$TMP/cfg.yaml" \
		> "$out" 2> "$out.err" || {
		echo "accelmon --once exited $?: $(cat "$out.err")"
		return 1
	}
}

# masked NAME: the families MASK names for this case, space-separated.
masked() {
	local globs fams g out=""
	local -a gl
	while read -r globs fams; do
		[ -n "$globs" ] || continue
		IFS=, read -ra gl <<< "$globs"
		for g in "${gl[@]}"; do
			# shellcheck disable=SC2254 # g is a glob
			case $1 in $g) out="$out $fams" ;; esac
		done
	done <<< "$MASK"
	echo "$out"
}

# canon MASKED < RAW > CANONICAL: drop accelmon_* and process_*, sort
# families by name and the samples within each, mask values of MASKED.
canon() {
	awk -v masked="$1" '
	BEGIN { n = split(masked, m, " "); for (i = 1; i <= n; i++) mask[m[i]] = 1 }
	/^# (HELP|TYPE) / {
		fam = $3
		print fam "\t" ($2 == "HELP" ? 0 : 1) "\t" $0
		next
	}
	/^#/ || /^$/ { next }
	{
		name = $0; sub(/[{ ].*/, "", name)
		# a sample belongs to the family announced before it when its
		# name extends that one (histogram/summary suffixes)
		f = (fam != "" && index(name, fam) == 1) ? fam : name
		line = $0
		if (f in mask) sub(/ [^ ]+$/, " <masked>", line)
		print f "\t2\t" line
	}' | grep -Ev '^(accelmon|process)_' | LC_ALL=C sort | cut -f3-
}

fails=0
seen_allow=""
ncase=0
for name in $CASES; do
	ncase=$((ncase + 1))
	raw=$TMP/$name.raw
	if ! msg=$(run_case "$name" "$raw"); then
		echo "FAIL: $name: $msg"
		fails=$((fails + 1))
		continue
	fi
	canon "$(masked "$name")" < "$raw" > "$TMP/$name.prom"

	# promtool on the raw output: every finding must be allowed
	if [ -n "$PROMTOOL" ]; then
		"$PROMTOOL" check metrics < "$raw" > "$TMP/$name.lint" 2>&1
		prc=$?
		rest=$(grep -vxF -e "" -e "$PROMTOOL_ALLOW" "$TMP/$name.lint" | grep -v '^$')
		while IFS= read -r a; do
			[ -n "$a" ] && grep -qxF -- "$a" "$TMP/$name.lint" &&
				seen_allow="$seen_allow$a"$'\n'
		done <<< "$PROMTOOL_ALLOW"
		# 0 clean, 3 lint findings only; anything else is a parse error
		if { [ $prc -ne 0 ] && [ $prc -ne 3 ]; } || [ -n "$rest" ]; then
			echo "FAIL: $name: promtool check metrics (exit $prc):"
			sed 's/^/    /' "$TMP/$name.lint"
			fails=$((fails + 1))
		fi
	fi

	gold=$GOLDEN/$name.prom
	if [ "$UPDATE" = 1 ]; then
		mkdir -p "$GOLDEN"
		if ! cmp -s "$TMP/$name.prom" "$gold" 2>/dev/null; then
			cp "$TMP/$name.prom" "$gold"
			echo "updated: $gold ($(wc -l < "$gold") lines)"
		fi
	elif [ ! -f "$gold" ]; then
		echo "FAIL: $name: no golden file $gold (GOLDEN_UPDATE=1 $0 writes it)"
		fails=$((fails + 1))
	elif diff -u --label "golden/$name.prom" --label "now/$name.prom" \
		"$gold" "$TMP/$name.prom" > "$TMP/$name.diff"; then
		echo "ok: $name: $(wc -l < "$gold") lines as frozen"
	else
		echo "FAIL: $name: exposition differs from $gold:"
		cat "$TMP/$name.diff"
		fails=$((fails + 1))
	fi
done

# golden files without a case are stale
for gold in "$GOLDEN"/*.prom; do
	[ -f "$gold" ] || continue
	n=${gold##*/}
	n=${n%.prom}
	case " $CASES " in
	*" $n "*) ;;
	*)
		echo "FAIL: $gold belongs to no case (remove it)"
		fails=$((fails + 1))
		;;
	esac
done

if [ -n "$PROMTOOL" ]; then
	while IFS= read -r a; do
		[ -n "$a" ] || continue
		if ! grep -qxF -- "$a" <<< "$seen_allow"; then
			echo "FAIL: PROMTOOL_ALLOW entry no case reports any more (remove it): $a"
			fails=$((fails + 1))
		fi
	done <<< "$PROMTOOL_ALLOW"
fi

if [ $fails -ne 0 ]; then
	echo "golden: $fails failure(s) over $ncase cases"
	exit 1
fi
if [ -z "$PROMTOOL" ]; then
	echo "SKIP: $ncase cases match their golden files, but promtool is not installed (lint not run)"
	exit 77
fi
echo "golden: $ncase cases as frozen; promtool clean but for the allowed findings"
exit 0
