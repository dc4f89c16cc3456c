/* smi collector: the built-in profiles, as YAML in exactly the format a user
 * writes under `profiles:` (collectors/smi.md), read by the same loader
 * (smi_profile.c). Each names its public source and whether it was checked
 * on hardware; none has been yet: the command lines and field names come
 * from the public code cited (see /work/shared/VENDORS.md for the sources).
 */
#include "smi.h"

const char smi_builtin_yaml[] =
    /* Iluvatar CoreX. Source: zstackio/zstack-utility
     * zstacklib/zstacklib/gpu/vendors/tianshu.py (both query lines). Not
     * verified on hardware. Two generations: v1 names the power column
     * gpu.power.draw and has fan.speed; v2 says power.draw and has no fan
     * column. v2 is asked when v1 fails (an unknown field is an error). */
    "ixsmi:\n"
    "  vendor: iluvatar\n"
    "  device_prefix: iluvatar\n"
    "  dirs: [/usr/local/corex/bin]\n"
    "  queries:\n"
    "    - command: [ixsmi, '--query-gpu={fields}', '--format=csv,noheader,nounits']\n"
    "      format: csv\n"
    "      fields:\n"
    "        gpu.power.draw: {metric: power, unit: W}\n"
    "        temperature.gpu: {metric: temperature, label: gpu, unit: C}\n"
    "        utilization.gpu: {metric: utilization, unit: '%'}\n"
    "        utilization.memory: {metric: memory_bandwidth_utilization, unit: '%'}\n"
    "        index: {index: true}\n"
    "        gpu_bus_id: {metric: info, label: pci_bus_id}\n"
    "        gpu_serial: {metric: info, label: serial}\n"
    "        fan.speed: none\n"
    "    - fallback: true\n"
    "      command: [ixsmi, '--query-gpu={fields}', '--format=csv,noheader,nounits']\n"
    "      format: csv\n"
    "      fields:\n"
    "        power.draw: {metric: power, unit: W}\n"
    "        temperature.gpu: {metric: temperature, label: gpu, unit: C}\n"
    "        utilization.gpu: {metric: utilization, unit: '%'}\n"
    "        utilization.memory: {metric: memory_bandwidth_utilization, unit: '%'}\n"
    "        index: {index: true}\n"
    "        gpu_bus_id: {metric: info, label: pci_bus_id}\n"
    "        gpu_serial: {metric: info, label: serial}\n"
    /* Intel Gaudi. Source: the `hl-smi -Q ... -f csv,noheader` lines of
     * third-party launch scripts and node health checkers (VENDORS.md
     * 1.9); utilization.aip, memory.total and power.draw as the Gaudi
     * documentation's hl-smi query list names them. Not verified on
     * hardware. Without nounits the tool prints units: they are checked. */
    "hl-smi:\n"
    "  vendor: habana\n"
    "  device_prefix: gaudi\n"
    "  command: [hl-smi, '-Q', '{fields}', '-f', 'csv,noheader']\n"
    "  format: csv\n"
    "  fields:\n"
    "    index: {index: true}\n"
    "    uuid: uuid\n"
    "    name: {metric: info, label: model}\n"
    "    bus_id: {metric: info, label: pci_bus_id}\n"
    "    driver_version: {metric: info, label: driver_version}\n"
    "    utilization.aip: {metric: utilization, unit: '%'}\n"
    "    memory.used: {metric: memory_used, unit: MiB}\n"
    "    memory.total: {metric: memory_total, unit: MiB}\n"
    "    power.draw: {metric: power, unit: W}\n"
    "    temperature.aip: {metric: temperature, label: aip, unit: C}\n"
    /* Biren. Source: HAMi Biren scripts (Project-HAMi/HAMi
     * docs/biren-support.md), which ask only index and memory.used; the
     * wider nvidia-smi style query is a guess, so the known-good narrow one
     * is its fallback. Not verified on hardware. */
    "brsmi:\n"
    "  vendor: biren\n"
    "  device_prefix: biren\n"
    "  queries:\n"
    "    - command: [brsmi, gpu, '--query-gpu={fields}', "
    "'--format=csv,noheader,nounits']\n"
    "      format: csv\n"
    "      fields:\n"
    "        index: {index: true}\n"
    "        utilization.gpu: {metric: utilization, unit: '%'}\n"
    "        memory.used: {metric: memory_used, unit: MiB}\n"
    "        memory.total: {metric: memory_total, unit: MiB}\n"
    "        power.draw: {metric: power, unit: W}\n"
    "        temperature.gpu: {metric: temperature, label: gpu, unit: C}\n"
    "    - fallback: true\n"
    "      command: [brsmi, gpu, '--query-gpu={fields}', "
    "'--format=csv,noheader,nounits']\n"
    "      format: csv\n"
    "      fields:\n"
    "        index: {index: true}\n"
    "        memory.used: {metric: memory_used, unit: MiB}\n"
    /* Moore Threads. Source: SwanHubX/SwanLab moorethreads.py (`-q --json`,
     * GPU[] with Index, Utilization.Gpu, FB Memory Usage, Temperature, and
     * "Power Draw " with its trailing space). Unverified there and here. */
    "mthreads-gmi:\n"
    "  vendor: mthreads\n"
    "  device_prefix: mthreads\n"
    "  command: [mthreads-gmi, '-q', '--json']\n"
    "  format: json\n"
    "  devices: GPU\n"
    "  fields:\n"
    "    Index: {index: true}\n"
    "    Product Name: {metric: info, label: model}\n"
    "    /Driver Version: {metric: info, label: driver_version}\n"
    "    Utilization/Gpu: {metric: utilization, unit: '%'}\n"
    "    FB Memory Usage/Total: {metric: memory_total, unit: MiB}\n"
    "    FB Memory Usage/Used: {metric: memory_used, unit: MiB}\n"
    "    Temperature/GPU Current Temp: {metric: temperature, label: gpu, unit: C}\n"
    "    'Power Readings/Power Draw ': {metric: power, unit: W}\n"
    /* Enflame. Source: zstackio/zstack-utility
     * zstacklib/zstacklib/gpu/vendors/enflame.py (an `efsmi -q` sample:
     * blocks per DEV ID; old drivers say Mem Size / Mem Usage). Not
     * verified on hardware. */
    "efsmi:\n"
    "  vendor: enflame\n"
    "  device_prefix: enflame\n"
    "  command: [efsmi, '-q']\n"
    "  format: kv\n"
    "  devices: DEV ID\n"
    "  fields:\n"
    "    Device Name: {metric: info, label: model}\n"
    "    GCU Usage: {metric: utilization, unit: '%'}\n"
    "    Cur Power: {metric: power, unit: W}\n"
    "    Power Capa: {metric: power_limit, unit: W}\n"
    "    GCU Temp: {metric: temperature, label: gcu, unit: C}\n"
    "    'Total Size|Mem Size': {metric: memory_total, unit: MiB}\n"
    "    'Used Size|Mem Usage': {metric: memory_used, unit: MiB}\n"
    "    Health: health\n"
    /* Cambricon. Source: SwanHubX/SwanLab accelerator/cambricon.py (`cnmon
     * info -u/-m/-e/-p`, "MLU Average", "Physical Memory Usage" then Used /
     * Total, "Temperature" then Chip, "Power" then Usage). Unverified
     * there and here; the per-card block marker "Card" is a guess. */
    "cnmon:\n"
    "  vendor: cambricon\n"
    "  device_prefix: cambricon\n"
    "  queries:\n"
    "    - command: [cnmon, info, '-u']\n"
    "      format: kv\n"
    "      devices: Card\n"
    "      fields:\n"
    "        MLU Average: {metric: utilization, unit: '%'}\n"
    "    - command: [cnmon, info, '-m']\n"
    "      format: kv\n"
    "      devices: Card\n"
    "      fields:\n"
    "        Physical Memory Usage/Total: {metric: memory_total, unit: MiB}\n"
    "        Physical Memory Usage/Used: {metric: memory_used, unit: MiB}\n"
    "    - command: [cnmon, info, '-e']\n"
    "      format: kv\n"
    "      devices: Card\n"
    "      fields:\n"
    "        Temperature/Chip: {metric: temperature, label: chip, unit: C}\n"
    "    - command: [cnmon, info, '-p']\n"
    "      format: kv\n"
    "      devices: Card\n"
    "      fields:\n"
    "        Power/Usage: {metric: power, unit: W}\n"
    /* MetaX. Source: SwanHubX/SwanLab (mx-smi --show-usage, --show-memory
     * with vis_vram total/used, --show-temperature hotspot,
     * --show-board-power). Unverified there and here; the key names and the
     * "GPU#" block marker are guesses from those parsers. */
    "mx-smi:\n"
    "  vendor: metax\n"
    "  device_prefix: metax\n"
    "  command: [mx-smi, --show-usage, --show-memory, --show-temperature, "
    "--show-board-power]\n"
    "  format: kv\n"
    "  devices: 'GPU#'\n"
    "  fields:\n"
    "    'GPU|GPU Util|Xcore': {metric: utilization, unit: '%'}\n"
    "    vis_vram total: {metric: memory_total, unit: KB}\n"
    "    vis_vram used: {metric: memory_used, unit: KB}\n"
    "    hotspot: {metric: temperature, label: hotspot, unit: C}\n"
    "    'board power|Board Power': {metric: power, unit: W}\n"
    /* Kunlunxin. Source: SwanHubX/SwanLab accelerator/kunlunxin.py and
     * third-party P800 code (`xpu-smi -m`: 32 fields, 1 XPU ID, 4
     * temperature, 8 power, 17/18 used/total memory, 19 utilization;
     * "machine help says MB"). Not verified on hardware. Off while the
     * kunlunxin plugin (XPUML) reports these devices. */
    "xpu-smi:\n"
    "  vendor: kunlunxin\n"
    "  device_prefix: kunlunxin\n"
    "  defer_to: kunlunxin\n"
    "  command: [xpu-smi, '-m']\n"
    "  format: columns\n"
    "  width: 32\n"
    "  fields:\n"
    "    '1': {index: true}\n"
    "    '4': {metric: temperature, label: xpu, unit: C}\n"
    "    '8': {metric: power, unit: W}\n"
    "    '17': {metric: memory_used, unit: MB}\n"
    "    '18': {metric: memory_total, unit: MB}\n"
    "    '19': {metric: utilization, unit: '%'}\n"
    /* Huawei Ascend. Source: SwanHubX/SwanLab hardware_vendor/accelerator/
     * huawei.py and its test fixtures (`npu-smi info -m` for the chips,
     * `info -t usages|temp|power -i NPU -c CHIP` key : value text; key
     * names vary by CANN version, so alternatives are listed). Not verified
     * on hardware. For hosts where DCMI cannot be opened: off while the
     * ascend collector reports these devices. */
    "npu-smi:\n"
    "  vendor: huawei\n"
    "  device_prefix: ascend\n"
    "  defer_to: ascend\n"
    "  dirs: [/usr/local/sbin, /usr/local/Ascend/driver/tools]\n"
    "  enumerate:\n"
    "    command: [npu-smi, info, '-m']\n"
    "    format: columns\n"
    "    fields:\n"
    "      '0': {var: npu}\n"
    "      '1': {var: chip}\n"
    "      '2': {index: true}\n"
    "  queries:\n"
    "    - command: [npu-smi, info, '-t', usages, '-i', '{npu}', '-c', '{chip}']\n"
    "      format: kv\n"
    "      per_device: true\n"
    "      fields:\n"
    "        'Aicore Usage Rate(%)|AI Core Usage Rate(%)': {metric: utilization, unit: "
    "'%'}\n"
    "        'Aivector Usage Rate(%)': {metric: engine_utilization, label: aivector, "
    "unit: '%'}\n"
    "        'Aicpu Usage Rate(%)|AI CPU Usage Rate(%)': {metric: engine_utilization, "
    "label: aicpu, unit: '%'}\n"
    "        'Ctrlcpu Usage Rate(%)|Control CPU Usage Rate(%)': {metric: "
    "engine_utilization, label: ctrlcpu, unit: '%'}\n"
    "        'NPU Utilization(%)': {metric: engine_utilization, label: npu, unit: '%'}\n"
    "        'HBM Capacity(MB)|DDR Capacity(MB)': {metric: memory_total, unit: MB}\n"
    "        'HBM Usage Rate(%)|DDR Usage Rate(%)': {metric: memory_used_ratio, unit: "
    "'%'}\n"
    "        'HBM Bandwidth Usage Rate(%)|DDR Bandwidth Usage Rate(%)': "
    "{metric: memory_bandwidth_utilization, unit: '%'}\n"
    "    - command: [npu-smi, info, '-t', temp, '-i', '{npu}', '-c', '{chip}']\n"
    "      format: kv\n"
    "      per_device: true\n"
    "      fields:\n"
    "        'Temperature (C)|Temperature(C)|NPU Temperature (C)': {metric: temperature, "
    "label: npu, unit: C}\n"
    "    - command: [npu-smi, info, '-t', power, '-i', '{npu}', '-c', '{chip}']\n"
    "      format: kv\n"
    "      per_device: true\n"
    "      fields:\n"
    "        'NPU Real-time Power(W)|Power Dissipation(W)': {metric: power, unit: W}\n"
    /* Ascend NPU RoCE ports. Source: Ascend/mind-cluster
     * component/ascend-common/devmanager/hccn/hccn_tool.go and
     * npu-exporter collector/metrics/collector_for_roce.go (`-i N -stat
     * -g` key:value counters, `-link -g` "link status: UP", `-speed -g`
     * "Speed: 100000 Mb/s"). Devices are the NPU logic ids that `npu-smi
     * info -m` lists. Not verified on hardware. Not deferred: DCMI does not
     * report these counters (npu-exporter runs hccn_tool too). */
    "hccn_tool:\n"
    "  vendor: huawei\n"
    "  device_prefix: ascend\n"
    "  dirs: [/usr/local/Ascend/driver/tools, /usr/local/sbin]\n"
    "  enumerate:\n"
    "    command: [npu-smi, info, '-m']\n"
    "    format: columns\n"
    "    fields:\n"
    "      '2': {index: true}\n"
    "  queries:\n"
    "    - command: [hccn_tool, '-i', '{index}', '-stat', '-g']\n"
    "      format: kv\n"
    "      per_device: true\n"
    "      fields:\n"
    "        roce_tx_all_pkt_num: port_transmit_packets\n"
    "        roce_rx_all_pkt_num: port_receive_packets\n"
    "        mac_tx_mac_pause_num: {metric: roce_pause_frames, label: transmit}\n"
    "        mac_rx_mac_pause_num: {metric: roce_pause_frames, label: receive}\n"
    "        mac_tx_pfc_pkt_num: {metric: roce_pfc_frames, label: transmit}\n"
    "        mac_rx_pfc_pkt_num: {metric: roce_pfc_frames, label: receive}\n"
    "        roce_tx_cnp_pkt_num: {metric: roce_cnp_packets, label: transmit}\n"
    "        roce_rx_cnp_pkt_num: {metric: roce_cnp_packets, label: receive}\n"
    "        roce_ecn_db_num: roce_ecn_packets\n"
    "        roce_new_pkt_rty_num: roce_retries\n"
    "        roce_qp_status_err_num: {metric: port_errors, label: qp_status}\n"
    "        mac_rx_fcs_err_pkt_num: {metric: port_errors, label: fcs}\n"
    "    - command: [hccn_tool, '-i', '{index}', '-link', '-g']\n"
    "      format: kv\n"
    "      per_device: true\n"
    "      fields:\n"
    "        link status: port_up\n"
    "    - command: [hccn_tool, '-i', '{index}', '-speed', '-g']\n"
    "      format: kv\n"
    "      per_device: true\n"
    "      fields:\n"
    "        Speed: {metric: port_link_speed, unit: Mb/s}\n";
