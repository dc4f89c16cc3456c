#!/bin/sh
# Crash safety of the records exporter: the agent writes records every 100 ms
# and is killed with SIGKILL at a different moment in each of five rounds;
# then accelmon-audit reads the directory. Every complete frame must read
# back and no file may hold a damaged region. kill -9 cannot tear a write()
# to a regular file, but a power cut can: the newest file is then cut
# mid-frame, and the audit must report a torn tail naming file and offset,
# exit 1, and still count every batch before it.
set -u
: "${ACCELMON:?}" "${ABS_BUILDDIR:?}" "${ABS_SRCDIR:?}"
AUDIT="$ABS_BUILDDIR/accelmon-audit"
work=$(mktemp -d "${TMPDIR:-/tmp}/amcrash.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
fail() { echo "records_crash: FAIL: $*"; [ -f "$work/agent.log" ] && tail -5 "$work/agent.log"; exit 1; }
jnum() { grep -o "\"$1\": [0-9]*" "$2" | head -1 | sed 's/.*: //'; }

port=$((20000 + $$ % 20000))
cat > "$work/config.yaml" <<CFG
listen: 127.0.0.1:$port
collectors:
  netdev: {interval: 100ms}
exporters:
  records: {dir: $work/rec, interval: 100ms, fsync_interval: 0s, max_file_size: 8KiB}
CFG

for round in 1 2 3 4 5; do
	"$ACCELMON" --config "$work/config.yaml" --log-level warn \
		--sysfs "$ABS_SRCDIR/tests/fixtures/netdev/sys" 2>>"$work/agent.log" &
	pid=$!
	sleep "$(awk -v r="$round" 'BEGIN { printf "%.2f", 0.5 + r * 0.17 }')"
	kill -0 "$pid" 2>/dev/null || fail "round $round: the agent exited early"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
done
nfiles=$(ls "$work/rec" | wc -l)
[ "$nfiles" -ge 5 ] || fail "expected at least 5 record files, found $nfiles"

"$AUDIT" --format json "$work/rec" >"$work/a.json" 2>"$work/a.err"
st=$?
cat "$work/a.err"
[ "$st" -le 1 ] || fail "audit exit status $st"
corrupt=$(jnum corrupt_regions "$work/a.json")
batches=$(jnum batches "$work/a.json")
torn=$(jnum torn_tails "$work/a.json")
[ "$corrupt" = 0 ] || fail "$corrupt damaged regions after kill -9"
[ "$batches" -ge 15 ] || fail "only $batches batches read back"
if [ "$st" = 1 ] && [ "$torn" = 0 ]; then fail "exit 1 without a reason"; fi
echo "records_crash: 5 x kill -9: $nfiles files, $batches batches, $corrupt damaged regions, $torn torn tails (audit exit $st)"

# A power cut mid-frame: cut 5 bytes off the largest file.
big=$(ls -S "$work/rec" | head -1)
size=$(wc -c <"$work/rec/$big")
truncate -s $((size - 5)) "$work/rec/$big"
"$AUDIT" --format json "$work/rec" >"$work/b.json" 2>"$work/b.err"
st=$?
cat "$work/b.err"
[ "$st" = 1 ] || fail "audit of a torn file exited $st, want 1"
grep -q "$big: offset [0-9]*: torn tail" "$work/b.err" || fail "no torn-tail warning naming $big and an offset"
after=$(jnum batches "$work/b.json")
[ "$(jnum corrupt_regions "$work/b.json")" = 0 ] || fail "a torn tail was reported as damage"
[ "$after" -eq $((batches - 1)) ] || fail "$after batches after the cut, want $((batches - 1))"
echo "records_crash: PASS (torn tail reported, $after of $batches batches kept)"
exit 0
