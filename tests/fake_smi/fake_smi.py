#!/usr/bin/env python3
# Fake vendor tools for the smi collector's tests: prints each vendor's
# format as /work/shared/VENDORS.md describes it, answering the fields the
# profile asks for, with fixed values (DEVS). Called through the small
# wrappers beside it (ixsmi, hl-smi, ...). The agent gives tools a minimal
# environment, so the scenario comes from the file fake_smi.mode next to the
# wrapper that ran: lines "TOOL MODE" or "* MODE" (normal when absent).
import json
import os
import sys
import time

# Two devices; index 1 has no power reading (the tools say N/A), so an
# absent value stays absent. Units: %, MiB, W, C.
DEVS = [
    dict(util=37, memutil=12, used=1024, total=32768, power=203.5, plimit=300,
         temp=62, serial="SN0", bus="0000:17:00.0", uuid="GPU-0a", name="Card A"),
    dict(util=5, memutil=1, used=2048, total=32768, power=None, plimit=300,
         temp=35, serial="SN1", bus="0000:18:00.0", uuid="GPU-1b", name="Card A"),
]


def mode_of(tool):
    path = os.path.join(WRAPPER_DIR, "fake_smi.mode")
    mode = "normal"
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[0] in (tool, "*"):
                    mode = parts[1]
                    if parts[0] == tool:
                        break
    except OSError:
        pass
    return mode


def na(v, text="N/A"):
    return text if v is None else v


def fmt(v):
    if isinstance(v, float):
        return ("%.1f" % v)
    return str(v)


def csv_tool(fields, units, mode, known):
    """nvidia-smi style CSV: one row per device, the fields in order."""
    bad = [f for f in fields if f not in known]
    if bad:
        print('Field "%s" is not a valid field to query.' % bad[0])
        sys.exit(2)
    rows = []
    for i, d in enumerate(DEVS):
        cells = []
        for f in fields:
            v, unit = known[f](i, d)
            if mode == "na" and f != "index":
                v = ["N/A", "[N/A]", "[Not Supported]", "-", "Unknown", ""][len(cells) % 6]
            elif mode == "units" and unit in ("W", "%"):
                unit = "MHz"
                v = fmt(v) + " " + unit if v is not None else "N/A"
            elif v is None:
                v = "[N/A]"
            elif units and unit:
                v = fmt(v) + " " + unit
            else:
                v = fmt(v)
            cells.append(str(v))
        if mode == "missing" and i == 1:
            cells = cells[:-1]
        rows.append(", ".join(cells))
    if mode == "garbage":
        print("WARNING: infoROM is corrupted at gpu 0000:17:00.0")
        print(",,,")
        print("\x00\xff garbage")
    for r in rows:
        print(r)


NV_FIELDS = {
    "index": lambda i, d: (i, ""),
    "gpu.power.draw": lambda i, d: (d["power"], "W"),
    "power.draw": lambda i, d: (d["power"], "W"),
    "temperature.gpu": lambda i, d: (d["temp"], "C"),
    "utilization.gpu": lambda i, d: (d["util"], "%"),
    "utilization.memory": lambda i, d: (d["memutil"], "%"),
    "gpu_bus_id": lambda i, d: (d["bus"], ""),
    "gpu_serial": lambda i, d: (d["serial"], ""),
    "fan.speed": lambda i, d: (40, "%"),
    "memory.used": lambda i, d: (d["used"], "MiB"),
    "memory.total": lambda i, d: (d["total"], "MiB"),
}

HL_FIELDS = {
    "index": lambda i, d: (i, ""),
    "uuid": lambda i, d: (d["uuid"], ""),
    "name": lambda i, d: ("HL-225", ""),
    "bus_id": lambda i, d: (d["bus"], ""),
    "driver_version": lambda i, d: ("1.17.0", ""),
    "utilization.aip": lambda i, d: (d["util"], "%"),
    "memory.used": lambda i, d: (d["used"], "MiB"),
    "memory.total": lambda i, d: (d["total"], "MiB"),
    "power.draw": lambda i, d: (d["power"], "W"),
    "temperature.aip": lambda i, d: (d["temp"], "C"),
    "module_id": lambda i, d: (i, ""),
}


def query_arg(args, flag):
    for a in args:
        if a.startswith(flag + "="):
            return a.split("=", 1)[1].split(",")
    return None


def ixsmi(args, mode):
    fields = query_arg(args, "--query-gpu")
    known = dict(NV_FIELDS)
    if mode == "v2":  # second generation: power.draw, no fan.speed
        del known["gpu.power.draw"]
        del known["fan.speed"]
    else:
        del known["power.draw"]
    csv_tool(fields, False, mode, known)


def brsmi(args, mode):
    fields = query_arg(args, "--query-gpu")
    known = dict(NV_FIELDS)
    if mode == "narrow":
        known = {k: NV_FIELDS[k] for k in ("index", "memory.used")}
    csv_tool(fields, False, mode, known)


def hlsmi(args, mode):
    fields = args[args.index("-Q") + 1].split(",")
    csv_tool(fields, True, mode, HL_FIELDS)


def mthreads(args, mode):
    gpus = []
    for i, d in enumerate(DEVS):
        g = {"Index": str(i), "Product Name": "MTT S4000",
             "Utilization": {"Gpu": "%d %%" % d["util"]},
             "FB Memory Usage": {"Total": "%d MiB" % d["total"],
                                 "Used": "%d MiB" % d["used"]},
             "Temperature": {"GPU Current Temp": "%d C" % d["temp"]},
             "Power Readings": {"Power Draw ": "N/A" if d["power"] is None
                                else "%.1f W" % d["power"]}}
        if mode == "na":
            g["Utilization"]["Gpu"] = "N/A"
            g["FB Memory Usage"] = {"Total": "[N/A]", "Used": None}
            g["Temperature"]["GPU Current Temp"] = "Unknown"
        gpus.append(g)
    doc = {"Driver Version": "2.7.0", "GPU": gpus}
    if mode == "garbage":
        print('{"Driver Version": "2.7.0", "GPU": [ {"Index": "0", ')
        return
    print(json.dumps(doc, indent=2))


def efsmi(args, mode):
    print("EFSMI  V1.0  Driver Version: 1.2.3")
    for i, d in enumerate(DEVS):
        print("-------------------- DEV ID %d --------------------" % i)
        print("    Device Name          : T20")
        print("    GCU Usage            : %.1f %%" % d["util"])
        print("    Cur Power            : %s" % ("N/A" if d["power"] is None else "%d W" % d["power"]))
        print("    Power Capa           : %d W" % d["plimit"])
        print("    GCU Temp             : %d \u2103" % d["temp"])
        if mode == "old":
            print("    Mem Size             : %d MiB" % d["total"])
            print("    Mem Usage            : %d MiB" % d["used"])
        else:
            print("    Total Size           : %d MiB" % d["total"])
            print("    Used Size            : %d MiB" % d["used"])
        print("    Tx/Rx Throughput     : 0 MiB/s")
        print("    Health               : True")


def cnmon(args, mode):
    what = args[1] if len(args) > 1 else ""
    for i, d in enumerate(DEVS):
        print("Card %d" % i)
        if what == "-u":
            print("  Utilization")
            print("    MLU Average          : %d %%" % d["util"])
            print("    MLU 0                : %d %%" % d["util"])
        elif what == "-m":
            print("  Physical Memory Usage")
            print("    Total                : %d MiB" % d["total"])
            print("    Used                 : %d MiB" % d["used"])
            print("  Virtual Memory Usage")
            print("    Total                : 1048576 MiB")
            print("    Used                 : 0 MiB")
        elif what == "-e":
            print("  Temperature")
            print("    Board                : 40 C")
            print("    Chip                 : %d C" % d["temp"])
        elif what == "-p":
            print("  Power")
            print("    Usage                : %s" % ("N/A" if d["power"] is None else "%d W" % d["power"]))
            print("    Cap                  : %d W" % d["plimit"])


def mxsmi(args, mode):
    print("mx-smi  version: 2.1.6")
    for i, d in enumerate(DEVS):
        print("GPU#%d  MXC500" % i)
        print("  GPU Util      : %d %%" % d["util"])
        print("  vis_vram total : %d KB" % (d["total"] * 1024))
        print("  vis_vram used  : %d KB" % (d["used"] * 1024))
        print("  hotspot       : %d C" % d["temp"])
        print("  board power   : %s" % ("N/A" if d["power"] is None else "%.1f W" % d["power"]))


def xpusmi(args, mode):
    for i, d in enumerate(DEVS):
        f = ["0"] * 32
        f[0] = "2026/12/02"
        f[1] = str(i)
        f[2] = "0000:%02x:00.0" % (0x17 + i)
        f[4] = str(d["temp"])
        f[8] = "-" if d["power"] is None else str(int(d["power"]))
        f[17] = str(d["used"])
        f[18] = str(d["total"])
        f[19] = str(d["util"])
        if mode == "missing" and i == 1:
            f = f[:20]
        print(" ".join(f))
    if mode == "garbage":
        print("xpu-smi: some banner line")


def npusmi(args, mode):
    if args[:2] == ["info", "-m"]:
        print("        NPU ID                         Chip ID                        Chip Logic ID                  Chip Name")
        for i in range(len(DEVS)):
            print("        %-30d %-30d %-30d Ascend 910B3" % (i, 0, i))
            print("        %-30d %-30d %-30s Mcu" % (i, 1, "-"))
        return
    t = args[args.index("-t") + 1]
    npu = int(args[args.index("-i") + 1])
    chip = int(args[args.index("-c") + 1])
    if chip != 0 or npu >= len(DEVS):
        print("Error: invalid chip", file=sys.stderr)
        sys.exit(2)
    d = DEVS[npu]
    if t == "usages":
        print("        HBM Capacity(MB)               : %d" % d["total"])
        print("        HBM Usage Rate(%%)              : %d" % (d["used"] * 100 // d["total"]))
        print("        Aicore Usage Rate(%%)           : %d" % d["util"])
        print("        Aivector Usage Rate(%)         : 20")
        print("        Aicpu Usage Rate(%)            : 3")
        print("        Ctrlcpu Usage Rate(%)          : 8")
        print("        HBM Bandwidth Usage Rate(%%)    : %d" % d["memutil"])
    elif t == "temp":
        print("        Temperature (C)                : %d" % d["temp"])
    elif t == "power":
        print("        NPU Real-time Power(W)         : %s" % ("NA" if d["power"] is None else "%.1f" % d["power"]))


def hccn(args, mode):
    dev = int(args[args.index("-i") + 1])
    if "-stat" in args:
        base = 1000 * (dev + 1)
        for k, v in [("mac_tx_mac_pause_num", 1), ("mac_rx_mac_pause_num", 2),
                     ("mac_tx_pfc_pkt_num", 3), ("mac_rx_pfc_pkt_num", 4),
                     ("roce_tx_all_pkt_num", base + 5), ("roce_rx_all_pkt_num", base + 6),
                     ("roce_tx_cnp_pkt_num", 7), ("roce_rx_cnp_pkt_num", 8),
                     ("roce_ecn_db_num", 9), ("roce_new_pkt_rty_num", 10),
                     ("roce_qp_status_err_num", 11), ("mac_rx_fcs_err_pkt_num", 12)]:
            print("%s:%d" % (k, v))
    elif "-link" in args:
        print("link status: %s" % ("UP" if dev == 0 else "DOWN"))
    elif "-speed" in args:
        print("Speed: 100000 Mb/s")


TOOLS = {"ixsmi": ixsmi, "brsmi": brsmi, "hl-smi": hlsmi, "mthreads-gmi": mthreads,
         "efsmi": efsmi, "cnmon": cnmon, "mx-smi": mxsmi, "xpu-smi": xpusmi,
         "npu-smi": npusmi, "hccn_tool": hccn}


def main():
    global WRAPPER_DIR
    tool = sys.argv[1]
    WRAPPER_DIR = sys.argv[2]
    args = sys.argv[3:]
    mode = mode_of(tool)
    if mode == "fail":
        print("%s: cannot open the driver" % tool, file=sys.stderr)
        sys.exit(1)
    if mode == "slow":
        time.sleep(60)
    if mode == "hang":
        # a child that keeps stdout open after the tool itself is stuck
        if os.fork() == 0:
            time.sleep(120)
            os._exit(0)
        time.sleep(120)
    if mode == "big":
        line = "x" * 99 + "\n"
        out = sys.stdout
        for _ in range(100000):  # 10 MB
            out.write(line)
        out.flush()
        TOOLS[tool](args, "normal")
        return
    TOOLS[tool](args, mode)
    sys.stdout.flush()
    if mode == "partial":
        print("%s: lost device 1 half-way" % tool, file=sys.stderr)
        sys.exit(3)


WRAPPER_DIR = "."
main()
