#!/bin/bash
# Issue 10's amdgpu shapes through the real agent (--once): trees made here
# from the Radeon fixture, each checked for exact values, its log line, and
# `promtool check metrics` clean: NUL-padded files, VRAM size 2^64-1, an
# RDNA3-style table with energy_accumulator 0, a random-body table
# (4.6e13 J), the module's driver version, and a card on the radeon driver.
. "$(dirname "$0")/lib.sh"
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
[ -n "$PROMTOOL" ] || skip "promtool is not installed"
cat >"$WORK/accelmon.yml" <<YML
collectors:
  netdev: {enabled: false}
  amdgpu: {}
YML
ID='device="amdgpu0",uuid="0000:03:00.0"'

# tree NAME: a fresh copy of the Radeon tree in $WORK/NAME; DEV its card0
tree() {
  T=$WORK/$1
  sh "$FIXTURES/amdgpu/mktree.sh" "$FIXTURES/amdgpu/radeon" "$T" || fail "mktree"
  # through the class link: in the dist tarball the links are copies
  DEV=$T/class/drm/card0/device
}
# run NAME: accelmon --once on $T into $WORK/NAME.prom (+ .log), promtool
run() {
  "$ACCELMON" --once --sysfs "$T" --config "$WORK/accelmon.yml" >"$WORK/$1.prom" 2>"$WORK/$1.log" ||
    { cat "$WORK/$1.log"; fail "$1: accelmon --once failed"; }
  "$PROMTOOL" check metrics <"$WORK/$1.prom" >"$WORK/$1.lint" 2>&1 ||
    { cat "$WORK/$1.lint"; fail "$1: promtool check metrics"; }
}
has() { grep -qxF "$2" "$WORK/$1.prom" || fail "$1: no line: $2"; }
lacks() { ! grep -q "$2" "$WORK/$1.prom" || fail "$1: unexpected: $2"; }
logged() { grep -qF "$2" "$WORK/$1.log" || { cat "$WORK/$1.log"; fail "$1: no log line: $2"; }; }
# a v1.3 table (Navi2x/MI200 layout, 120 bytes) all 0xff but the header and
# the energy accumulator at offset 24 (8 little-endian bytes, printf escapes)
table() {
  head -c 120 /dev/zero | tr '\000' '\377' >"$DEV/gpu_metrics"
  printf '\170\000\001\003' | dd of="$DEV/gpu_metrics" conv=notrunc status=none
  printf "$1" | dd of="$DEV/gpu_metrics" bs=1 seek=24 conv=notrunc status=none
}

tree nul
for f in vendor device uevent gpu_busy_percent mem_info_vram_total hwmon/hwmon4/power1_average; do
  s=$(stat -c %s "$DEV/$f")
  head -c $((4096 - s)) /dev/zero >>"$DEV/$f"
done
run nul
has nul "accel_utilization_ratio{$ID} 0.23"
has nul "accel_power_watts{$ID} 63"
has nul "accel_memory_total_bytes{$ID} $(cat "$FIXTURES/amdgpu/radeon/devices/pci0000:00/0000:03:00.0/mem_info_vram_total")"
has nul "accelmon_collector_read_errors_total{collector=\"amdgpu\"} 0"
ok "NUL-padded files read as their text"

tree vram
echo 18446744073709551615 >"$DEV/mem_info_vram_total"
run vram
lacks vram "^accel_memory_total_bytes{"
logged vram "mem_info_vram_total: 18446744073709551615 is not plausible (above 70368744177664)"
ok "VRAM size 2^64-1 refused"

tree rdna3
table '\000\000\000\000\000\000\000\000'
run rdna3
logged rdna3 "amdgpu0: gpu_metrics energy_accumulator reads 0 while power is 63.0 W: energy is integrated from power instead"
awk -v id="accel_energy_joules_total{$ID}" '$1 == id && $2 > 0 { f = 1 } END { exit !f }' "$WORK/rdna3.prom" ||
  fail "rdna3: energy not integrated from power"
ok "energy_accumulator 0: power integrated"

tree random
table '\000\000\000\340\250\065\326\051' # 4.6e13 J x 2^16
run random
logged random "amdgpu0: gpu_metrics v1.3: implausible energy_accumulator ignored"
ok "4.6e13 J refused"

tree module
mkdir -p "$T/module/amdgpu" && echo 6.7.0 >"$T/module/amdgpu/version"
run module
grep -q "^accel_info{$ID,.*,driver_version=\"6.7.0\"," "$WORK/module.prom" || fail "module: no driver_version"
ok "driver_version from module/amdgpu/version"
# the tree's i915 Alder Lake iGPU (0x4680) is no accelerator by default
lacks module 'device="i915-card'
logged module "drm: off (needs a config section)"
ok "drm off without its section: the iGPU is not in accel_info"

tree radeon
ln -sfn ../../../bus/pci/drivers/radeon "$DEV/driver"
sed -i 's/^DRIVER=.*/DRIVER=radeon/' "$DEV/uevent"
run radeon
lacks radeon "^accel_up{"
logged radeon "card0: AMD card (vendor 0x1002) with driver radeon is not an amdgpu device; skipped"
ok "a radeon-driver card is not an amdgpu device"
# with its section drm reports the iGPU, labelled as amdgpu labels a card
tree drm
printf 'collectors:\n  netdev: {enabled: false}\n  amdgpu: {}\n  drm: {}\n' >"$WORK/drm.yml"
"$ACCELMON" --once --sysfs "$T" --procfs "$FIXTURES/procfs/node" --config "$WORK/drm.yml" \
  >"$WORK/drm.prom" 2>"$WORK/drm.log" || { cat "$WORK/drm.log"; fail "drm: accelmon --once failed"; }
grep -q '^accel_info{device="i915-card1",uuid="",vendor="Intel",model="Intel 8086:4680",' "$WORK/drm.prom" ||
  { grep '^accel_info' "$WORK/drm.prom"; fail "drm: i915-card1 labels"; }
grep -q '^accel_info{device="amdgpu0",uuid="0000:03:00.0",vendor="AMD",model="AMD 1002:744c",' "$WORK/drm.prom" ||
  fail "drm: amdgpu0 labels"
ok "drm: section on; vendor Intel, model from the PCI ids"
echo "PASS: amdgpu shapes"
