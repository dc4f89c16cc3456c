#!/bin/bash
# Identity strings that are not valid UTF-8 never make the exposition
# invalid: a copy of the ndr8 InfiniBand fixture gets a board_id with an
# overlong form, a surrogate, 0xff and a truncated sequence; `accelmon --once`
# must export it with U+FFFD in their place, pass `promtool check metrics`,
# and say so in one log line naming family and label.
. "$(dirname "$0")/lib.sh"
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
[ -x "$PROMTOOL" ] || skip "promtool not found at $PROMTOOL"
FIX=$FIXTURES/infiniband
tree=$WORK/tree
sh "$FIX/mktree.sh" "$FIX/ndr8" "$tree" || fail "mktree ndr8"
board=$(find "$tree" -path '*/infiniband/mlx5_0/board_id')
[ -f "$board" ] || fail "no mlx5_0/board_id in the ndr8 fixture"
# MT_ <C0 80> <ED A0 80> <FF> x <E2 82>: 2 + 3 + 1 + 1 replacement characters.
printf 'MT_\300\200\355\240\200\377x\342\202\n' > "$board"
cat > "$WORK/accelmon.yaml" <<'YAML'
collectors:
  infiniband: {interval: 1s}
  netdev: {enabled: false}
YAML
"$ACCELMON" --once --sysfs "$tree" --config "$WORK/accelmon.yaml" \
	> "$WORK/out.prom" 2> "$WORK/err" || { cat "$WORK/err"; fail "accelmon --once"; }
R=$(printf '\357\277\275')
want="board_id=\"MT_$R$R$R$R$R${R}x$R\""
grep -qF "$want" "$WORK/out.prom" ||
	{ grep board_id "$WORK/out.prom" | od -c | head; fail "board_id not cleaned as expected"; }
ok "board_id exported with U+FFFD for each invalid sequence"
iconv -f UTF-8 -t UTF-8 "$WORK/out.prom" > /dev/null || fail "output is not valid UTF-8"
"$PROMTOOL" check metrics < "$WORK/out.prom" > "$WORK/promtool" 2>&1 ||
	{ cat "$WORK/promtool"; fail "promtool check metrics"; }
[ -s "$WORK/promtool" ] && { cat "$WORK/promtool"; fail "promtool lint findings"; }
ok "promtool check metrics clean"
n=$(grep -c 'series of fabric_device_info: label board_id had invalid UTF-8 (replaced with U+FFFD)' "$WORK/err")
[ "$n" = 1 ] || { cat "$WORK/err"; fail "expected one log line naming family and label, got $n"; }
ok "one log line names family and label"
# The untouched devices keep their board_id as it was.
grep -qF 'board_id="MT_0000000838"' "$WORK/out.prom" || fail "other devices' board_id changed"
ok "valid identity strings unchanged"
