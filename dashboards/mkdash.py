#!/usr/bin/env python3
"""Source of the three Grafana boards in this folder (cluster efficiency,
node detail, fabric): `python3 mkdash.py` rewrites accelmon-*.json, and
tests/integration/rules.sh fails when the JSON and this file disagree.
Efficiency figures come from the recording rules of accelmon.rules.yml;
the datasource is a variable; cluster, node and model are variables."""
import json
import os
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
# Raw series carry the cluster (a target label) and the node (instance).
SEL = 'cluster=~"$cluster",instance=~"$node"'
# Only the devices of the chosen models (model lives on accel_info).
MODEL = ('and on (instance, device, uuid) instance_device:accel_info:max'
         '{' + SEL + ',model=~"$model"}')


def var_ds():
    return {"name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0, "refresh": 1,
            "regex": "", "options": []}


def var_query(name, label, query, multi=True, include_all=True):
    v = {"name": name, "label": label, "type": "query", "datasource": DS,
         "definition": query, "query": {"query": query, "refId": "var-" + name},
         "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all,
         "current": {}, "hide": 0, "options": [], "regex": ""}
    if include_all:
        # All matches series without the label too (no cluster label set).
        v["allValue"] = ".*"
    return v


def variables(node_multi=True):
    return [
        var_ds(),
        var_query("cluster", "Cluster", "label_values(accelmon_build_info, cluster)"),
        var_query("node", "Node",
                  'label_values(accelmon_build_info{cluster=~"$cluster"}, instance)',
                  multi=node_multi, include_all=node_multi),
        var_query("model", "Model",
                  'label_values(instance_device:accel_info:max{' + SEL + '}, model)'),
    ]


class Board:
    def __init__(self, uid, title, description, tags, node_multi=True):
        self.d = {
            "uid": uid, "title": title, "description": description,
            "tags": ["accelmon"] + tags, "editable": True, "graphTooltip": 1,
            "schemaVersion": 39, "version": 1, "refresh": "1m",
            "time": {"from": "now-24h", "to": "now"}, "timezone": "",
            "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
            "annotations": {"list": []}, "links": [],
            "templating": {"list": variables(node_multi)}, "panels": []}
        self.y = 0
        self.x = 0
        self.rowh = 0
        self.id = 0

    def row(self, title):
        self.newline()
        self.id += 1
        self.d["panels"].append({
            "id": self.id, "type": "row", "title": title, "collapsed": False,
            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "panels": []})
        self.y += 1

    def newline(self):
        if self.x:
            self.y += self.rowh
            self.x = 0
            self.rowh = 0

    def panel(self, ptype, title, targets, w=12, h=8, unit=None,
              description="", instant=False, options=None, minmax=None,
              fmt=None):
        if self.x + w > 24:
            self.newline()
        self.id += 1
        tg = []
        for i, t in enumerate(targets):
            expr, legend = (t, "") if isinstance(t, str) else t
            q = {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr,
                 "legendFormat": legend or "__auto", "range": not instant,
                 "instant": instant, "editorMode": "code"}
            if fmt:
                q["format"] = fmt
            tg.append(q)
        defaults = {}
        if unit:
            defaults["unit"] = unit
        if minmax:
            defaults["min"], defaults["max"] = minmax
        p = {"id": self.id, "type": ptype, "title": title,
             "description": description, "datasource": DS,
             "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
             "targets": tg,
             "fieldConfig": {"defaults": defaults, "overrides": []},
             "options": options or {}}
        self.d["panels"].append(p)
        self.x += w
        self.rowh = max(self.rowh, h)
        return p

    def stat(self, title, expr, unit=None, description="", w=4):
        return self.panel("stat", title, [expr], w=w, h=4, unit=unit,
                          description=description,
                          options={"reduceOptions": {"calcs": ["lastNotNull"]},
                                   "colorMode": "value", "graphMode": "area"})

    def ts(self, title, targets, unit=None, description="", w=12, h=8,
           minmax=None):
        return self.panel("timeseries", title, targets, w=w, h=h, unit=unit,
                          description=description, minmax=minmax,
                          options={"legend": {"displayMode": "list",
                                              "placement": "bottom"},
                                   "tooltip": {"mode": "multi"}})

    def table(self, title, targets, description="", w=12, h=8, unit=None):
        return self.panel("table", title, targets, w=w, h=h, unit=unit,
                          description=description, instant=True, fmt="table",
                          options={"showHeader": True})


def ratio_ts(b, title, targets, description="", w=12):
    return b.ts(title, targets, unit="percentunit", description=description,
                w=w, minmax=(0, 1))


def cluster_board():
    b = Board("accelmon-cluster", "accelmon: cluster efficiency",
              "Where the accelerator time goes: busy against idle, by model "
              "and node, energy, and the least-used nodes. Figures by model "
              "follow the cluster and model variables; figures by node the "
              "cluster and node variables.", ["efficiency"])
    cm = 'cluster=~"$cluster",model=~"$model"'
    ci = 'cluster=~"$cluster",instance=~"$node"'
    busy = "sum(cluster_model:accel_busy_equivalent:sum_rate5m{%s})" % cm
    count = "sum(cluster_model:accel:count{%s})" % cm
    rng = "$__range_s / 3600"
    b.row("Now")
    b.stat("Accelerators", count)
    b.stat("Mean busy (5m)", "%s / %s" % (busy, count), unit="percentunit",
           description="Busy seconds over accelerator seconds: exact, from "
           "the integrated counters.")
    b.stat("Equivalent fully-busy accelerators", busy,
           description="The sum of busy fractions: as many devices busy all "
           "the time would do the same work.")
    b.stat("Idle but powered", "sum(cluster_model:accel_idle:sum{%s})" % cm,
           description="Answering, and under 5% busy over 5 minutes.")
    b.stat("Power", "sum(cluster_model:accel_power_watts:sum_rate5m{%s})" % cm,
           unit="watt")
    b.stat("Power while idle",
           "sum(cluster_model:accel_idle_power_watts:sum_rate5m{%s})" % cm,
           unit="watt", description="Power drawn by the idle-but-powered devices.")
    b.row("Over the dashboard's time range")
    b.panel("bargauge", "Accelerator-hours busy vs idle", [
        ("sum(avg_over_time(cluster_model:accel_busy_equivalent:sum_rate5m{%s}[$__range])) * %s" % (cm, rng), "busy"),
        ("(sum(avg_over_time(cluster_model:accel:count{%s}[$__range])) - sum(avg_over_time(cluster_model:accel_busy_equivalent:sum_rate5m{%s}[$__range]))) * %s" % (cm, cm, rng), "idle"),
    ], w=8, h=6, unit="h", instant=True,
        options={"orientation": "horizontal", "displayMode": "gradient",
                 "reduceOptions": {"calcs": ["lastNotNull"]}})
    b.panel("bargauge", "Energy, and energy while idle", [
        ("sum(avg_over_time(cluster_model:accel_power_watts:sum_rate5m{%s}[$__range])) * $__range_s / 3600000" % cm, "all"),
        ("sum(avg_over_time(cluster_model:accel_idle_power_watts:sum_rate5m{%s}[$__range])) * $__range_s / 3600000" % cm, "while idle"),
    ], w=8, h=6, unit="kwatth", instant=True,
        options={"orientation": "horizontal", "displayMode": "gradient",
                 "reduceOptions": {"calcs": ["lastNotNull"]}})
    b.panel("piechart", "Vendor mix", [
        ("sum by (vendor) (cluster_model:accel:count{%s})" % cm, "{{vendor}}"),
    ], w=4, h=6, instant=True,
        options={"reduceOptions": {"calcs": ["lastNotNull"]},
                 "legend": {"displayMode": "list", "placement": "right"}})
    b.panel("piechart", "Model mix", [
        ("sum by (vendor, model) (cluster_model:accel:count{%s})" % cm, "{{vendor}} {{model}}"),
    ], w=4, h=6, instant=True,
        options={"reduceOptions": {"calcs": ["lastNotNull"]},
                 "legend": {"displayMode": "list", "placement": "right"}})
    b.row("By model")
    p = b.ts("Busy and idle accelerators", [
        (busy, "busy (equivalent)"),
        ("%s - %s" % (count, busy), "idle (equivalent)"),
        ("sum(cluster_model:accel_idle:sum{%s})" % cm, "idle but powered (devices)"),
    ], description="Stacked: busy and idle add up to the accelerators.")
    p["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal"}}
    ratio_ts(b, "Busy ratio by model", [
        ("cluster_model:accel_busy_ratio:avg_rate5m{%s}" % cm, "{{cluster}} {{model}}")])
    ratio_ts(b, "SM-active ratio by model (where the hardware reports it)", [
        ("cluster_model:accel_sm_active_ratio:avg_rate5m{%s}" % cm, "{{cluster}} {{model}}")])
    ratio_ts(b, "Tensor-active ratio by model (where the hardware reports it)", [
        ("cluster_model:accel_tensor_active_ratio:avg_rate5m{%s}" % cm, "{{cluster}} {{model}}")])
    b.ts("Power and power while idle by model", [
        ("cluster_model:accel_power_watts:sum_rate5m{%s}" % cm, "{{model}}"),
        ("cluster_model:accel_idle_power_watts:sum_rate5m{%s}" % cm, "{{model}} idle")],
        unit="watt")
    b.ts("Equivalent fully-busy accelerators by model", [
        ("cluster_model:accel_busy_equivalent:sum_rate5m{%s}" % cm, "{{model}}"),
        ("cluster_model:accel:count{%s}" % cm, "{{model}} (all)")])
    b.row("By node")
    ratio_ts(b, "Busy, SM-active and tensor-active by node", [
        ("cluster_instance:accel_busy_ratio:avg_rate5m{%s}" % ci, "busy {{instance}}"),
        ("cluster_instance:accel_sm_active_ratio:avg_rate5m{%s}" % ci, "SM {{instance}}"),
        ("cluster_instance:accel_tensor_active_ratio:avg_rate5m{%s}" % ci, "tensor {{instance}}")])
    b.table("Least-used nodes (mean busy, 5m)", [
        ("bottomk(10, cluster_instance:accel_busy_ratio:avg_rate5m{%s})" % ci, ""),
        ("cluster_instance:accel_idle_power_watts:sum_rate5m{%s}" % ci, "")],
        unit="percentunit",
        description="The ten nodes whose accelerators did least; idle power beside them.")
    b.panel("heatmap", "Busy ratio per accelerator", [
        ("instance_device:accel_busy_ratio:rate5m{%s,model=~\"$model\"}" % SEL,
         "{{instance}} {{device}}")], w=24, h=10, unit="percentunit",
        options={"calculate": False, "yAxis": {"unit": "percentunit"}})
    b.table("Idle-but-powered accelerators", [
        ("instance_device:accel_idle_power_watts:rate5m{%s,model=~\"$model\"}" % SEL, "")],
        unit="watt", w=24,
        description="Under 5% busy over 5 minutes while answering; value: their power.")
    return b.d


def node_board():
    b = Board("accelmon-node", "accelmon: node detail",
              "Every accelerator and port of one node: utilization, memory, "
              "power, temperatures, throttling, errors, and the agent's own "
              "collectors.", ["node"], node_multi=False)
    dev = SEL  # raw device series
    b.row("Accelerators")
    b.stat("Accelerators answering",
           "sum(accel_up{%s} %s)" % (dev, MODEL))
    b.stat("Accelerators down",
           "count((accel_up{%s} %s) == 0) or vector(0)" % (dev, MODEL))
    b.stat("Mean busy (5m)",
           "avg(instance_device:accel_busy_ratio:rate5m{%s,model=~\"$model\"})" % SEL,
           unit="percentunit")
    b.stat("Power", "sum(instance_device:accel_power_watts:rate5m{%s,model=~\"$model\"})" % SEL,
           unit="watt")
    b.stat("Collectors down",
           "count(accelmon_collector_up{%s} == 0) or vector(0)" % SEL)
    b.stat("Ports down", "count(fabric_port_up{%s} == 0) or vector(0)" % SEL)
    b.table("Devices", [("instance_device:accel_info:max{%s,model=~\"$model\"}" % SEL, "")],
            w=24, h=6)
    ratio_ts(b, "Busy ratio (5m, from busy seconds)", [
        ("instance_device:accel_busy_ratio:rate5m{%s,model=~\"$model\"}" % SEL, "{{device}}")])
    ratio_ts(b, "Utilization (last poll)", [
        ("accel_utilization_ratio{%s} %s" % (dev, MODEL), "{{device}}")])
    ratio_ts(b, "SM-active and tensor-active", [
        ("instance_device:accel_sm_active_ratio:rate5m{%s,model=~\"$model\"}" % SEL, "SM {{device}}"),
        ("instance_device:accel_tensor_active_ratio:rate5m{%s,model=~\"$model\"}" % SEL, "tensor {{device}}")])
    ratio_ts(b, "Memory used", [
        ("accel_memory_used_bytes{%s} / accel_memory_total_bytes{%s} %s" % (dev, dev, MODEL), "{{device}}")],
        description="Share of device memory in use.")
    b.ts("Power and its limit", [
        ("accel_power_watts{%s} %s" % (dev, MODEL), "{{device}}"),
        ("accel_power_limit_watts{%s} %s" % (dev, MODEL), "{{device}} limit")], unit="watt")
    b.ts("Temperatures", [
        ("accel_temperature_celsius{%s} %s" % (dev, MODEL), "{{device}} {{sensor}}")],
        unit="celsius")
    ratio_ts(b, "Throttled share of time, by reason", [
        ("instance_device:accel_throttled_ratio:rate5m{%s} %s" % (SEL, MODEL), "{{device}} {{reason}}")])
    b.ts("Clocks", [("accel_clock_hertz{%s} %s" % (dev, MODEL), "{{device}} {{clock}}")],
         unit="hertz")
    b.ts("ECC errors and error events", [
        ("increase(accel_ecc_errors_total{%s}[$__rate_interval]) %s" % (dev, MODEL), "{{device}} ECC {{type}}"),
        ("increase(accel_error_events_total{%s}[$__rate_interval]) %s" % (dev, MODEL), "{{device}} event {{code}}")])
    b.ts("PCIe traffic", [
        ("rate(accel_pcie_transmit_bytes_total{%s}[$__rate_interval]) %s" % (dev, MODEL), "{{device}} tx"),
        ("rate(accel_pcie_receive_bytes_total{%s}[$__rate_interval]) %s" % (dev, MODEL), "{{device}} rx")],
        unit="Bps")
    b.panel("state-timeline", "Accelerator answering (accel_up)", [
        ("accel_up{%s} %s" % (dev, MODEL), "{{device}}")], w=24, h=6,
        options={"mergeValues": True, "showValue": "never"})
    b.row("Fabric ports")
    b.panel("state-timeline", "Port up", [
        ("fabric_port_up{%s}" % SEL, "{{device}}/{{port}}"),
        ("fabric_netdev_up{%s}" % SEL, "{{device}}")], w=24, h=6,
        options={"mergeValues": True, "showValue": "never"})
    ratio_ts(b, "Port utilization (5m)", [
        ("instance_port:fabric_port_utilization_ratio:rate5m{%s}" % SEL, "{{device}}/{{port}} {{direction}}")])
    b.ts("Port errors per second", [
        ("instance_port:fabric_port_errors:rate5m{%s} > 0" % SEL, "{{device}}/{{port}} {{type}}"),
        ("rate(fabric_netdev_receive_errors_total{%s}[$__rate_interval]) > 0" % SEL, "{{device}} rx errors"),
        ("rate(fabric_netdev_transmit_errors_total{%s}[$__rate_interval]) > 0" % SEL, "{{device}} tx errors")])
    b.ts("Ethernet bytes/s", [
        ("rate(fabric_netdev_receive_bytes_total{%s}[$__rate_interval])" % SEL, "rx {{device}}"),
        ("rate(fabric_netdev_transmit_bytes_total{%s}[$__rate_interval])" % SEL, "tx {{device}}")],
        unit="Bps")
    b.table("Saturated port counters (clear them)", [
        ("fabric_port_stat_saturated{%s} == 1" % SEL, "")])
    b.row("The agent")
    b.panel("state-timeline", "Collectors up", [
        ("accelmon_collector_up{%s}" % SEL, "{{collector}}")], w=12, h=6,
        options={"mergeValues": True, "showValue": "never"})
    ratio_ts(b, "Poll duration over interval", [
        ("accelmon_collector_duration_seconds{%s} / accelmon_collector_interval_seconds{%s}" % (SEL, SEL),
         "{{collector}}")], description="Near 1: the collector is about to overrun.")
    b.ts("Dropped samples and read errors", [
        ("increase(accelmon_ring_dropped_samples_total{%s}[$__rate_interval])" % SEL, "{{collector}} dropped"),
        ("increase(accelmon_collector_read_errors_total{%s}[$__rate_interval])" % SEL, "{{collector}} read errors")])
    b.ts("Agent CPU and memory", [
        ("rate(process_cpu_seconds_total{%s}[$__rate_interval])" % SEL, "CPU (cores)"),
        ("process_resident_memory_bytes{%s} / 1048576" % SEL, "resident MiB")])
    b.table("Agent build", [("accelmon_build_info{%s}" % SEL, "")], w=24, h=4)
    return b.d


def fabric_board():
    b = Board("accelmon-fabric", "accelmon: fabric",
              "InfiniBand, RoCE, Ethernet and NVLink: utilization and peaks, "
              "errors, congestion (CNP/ECN, transmit wait) and link flaps.",
              ["fabric"])
    b.row("Traffic")
    b.stat("Fabric transmit", "sum(cluster:fabric_port_transmit_bytes:sum_rate5m{cluster=~\"$cluster\"})",
           unit="Bps", w=6)
    b.stat("Fabric receive", "sum(cluster:fabric_port_receive_bytes:sum_rate5m{cluster=~\"$cluster\"})",
           unit="Bps", w=6)
    b.stat("Ports down", "count(fabric_port_up{%s} == 0) or vector(0)" % SEL, w=6)
    b.stat("Saturated counters", "count(fabric_port_stat_saturated{%s} == 1) or vector(0)" % SEL, w=6)
    ratio_ts(b, "Port utilization (5m mean)", [
        ("instance_port:fabric_port_utilization_ratio:rate5m{%s}" % SEL,
         "{{instance}} {{device}}/{{port}} {{direction}}")])
    ratio_ts(b, "Port utilization peaks", [
        ("instance_port:fabric_port_utilization_peak_ratio:max5m{%s}" % SEL,
         "{{instance}} {{device}}/{{port}} {{direction}}")],
        description="The highest per-poll utilization: bursts a 5m mean hides.")
    b.table("Busiest ports over the range (peak)", [
        ("topk(10, max_over_time(instance_port:fabric_port_utilization_peak_ratio:max5m{%s}[$__range]))" % SEL, "")],
        unit="percentunit")
    b.ts("Port throughput", [
        ("instance_port:fabric_port_transmit_bytes:rate5m{%s}" % SEL, "tx {{instance}} {{device}}/{{port}}"),
        ("instance_port:fabric_port_receive_bytes:rate5m{%s}" % SEL, "rx {{instance}} {{device}}/{{port}}")],
        unit="Bps")
    b.row("Errors and links")
    b.ts("Port errors per second", [
        ("instance_port:fabric_port_errors:rate5m{%s} > 0" % SEL,
         "{{instance}} {{device}}/{{port}} {{type}}")])
    b.table("Link flaps over the range", [
        ("increase(fabric_port_errors_total{%s,type=\"link_downed\"}[$__range]) > 0" % SEL, ""),
        ("changes(fabric_port_up{%s}[$__range]) > 0" % SEL, "")],
        description="link_downed counts every drop; changes() of port_up those a scrape saw.")
    b.panel("state-timeline", "Port up", [
        ("fabric_port_up{%s}" % SEL, "{{instance}} {{device}}/{{port}}")], w=12, h=8,
        options={"mergeValues": True, "showValue": "never"})
    b.table("Saturated counters", [("fabric_port_stat_saturated{%s} == 1" % SEL, "")])
    b.row("Congestion")
    b.ts("RoCE congestion notifications (CNP) and ECN marks per second", [
        ("instance_port:fabric_roce_cnp_handled:rate5m{%s}" % SEL, "CNP handled {{instance}} {{device}}/{{port}}"),
        ("rate(fabric_roce_cnp_sent_total{%s}[$__rate_interval])" % SEL, "CNP sent {{instance}} {{device}}/{{port}}"),
        ("instance_port:fabric_roce_ecn_marked_packets:rate5m{%s}" % SEL, "ECN marked {{instance}} {{device}}/{{port}}")])
    b.ts("Transmit wait (ticks per second)", [
        ("instance_port:fabric_port_transmit_wait:rate5m{%s}" % SEL, "{{instance}} {{device}}/{{port}}")],
        description="Ticks a packet waited for credit to be sent: backpressure.")
    b.row("NVLink and Ethernet")
    b.ts("NVLink bytes/s per device", [
        ("sum by (instance, device) (rate(fabric_nvlink_transmit_bytes_total{%s,link!=\"all\"}[$__rate_interval]))" % SEL,
         "tx {{instance}} {{device}}"),
        ("sum by (instance, device) (rate(fabric_nvlink_receive_bytes_total{%s,link!=\"all\"}[$__rate_interval]))" % SEL,
         "rx {{instance}} {{device}}")], unit="Bps")
    b.ts("Ethernet bytes/s", [
        ("rate(fabric_netdev_transmit_bytes_total{%s}[$__rate_interval])" % SEL, "tx {{instance}} {{device}}"),
        ("rate(fabric_netdev_receive_bytes_total{%s}[$__rate_interval])" % SEL, "rx {{instance}} {{device}}")],
        unit="Bps")
    peer_panels(b)
    return b.d


def peer_panels(b):
    """Who talks to whom: the pcap collector's per-peer series, joined to
    nodes through fabric_peer_address_info (accelmon-peers rules)."""
    b.row("Who talks to whom (packet capture)")
    p = b.table("Node-to-node traffic (bytes/s sent, 5m mean)", [
        ("sum by (src_node, dst_node) (node_pair:fabric_peer_transmit_bytes:rate5m{cluster=~\"$cluster\"})", "")],
        w=24, h=10, unit="Bps",
        description="Rows send, columns receive. From the pcap collector of every node: "
                    "kernel traffic on captured netdevs (NCCL sockets, storage, control); "
                    "RoCE bypasses the kernel and shows only where an RDMA device is "
                    "sampled. Peers outside each node's top K and addresses no agent owns "
                    "are left out.")
    p["transformations"] = [{"id": "groupingToMatrix", "options": {
        "columnField": "dst_node", "rowField": "src_node", "valueField": "Value"}}]
    b.ts("Top peers by bytes sent", [
        ("topk(10, sum by (instance, peer) (instance_peer:fabric_peer_transmit_bytes:rate5m{%s}))" % SEL,
         "{{instance}} to {{peer}}")], unit="Bps")
    b.ts("RoCEv2 CNPs and ECN-CE marks per peer", [
        ("instance_peer:fabric_peer_cnp_packets:rate5m{%s}" % SEL, "CNP {{direction}} {{instance}} {{peer}}"),
        ("instance_peer:fabric_peer_ecn_ce_packets:rate5m{%s}" % SEL, "ECN-CE {{direction}} {{instance}} {{peer}}")])
    b.ts("Capture drops and unattributed frames per second", [
        ("rate(fabric_pcap_dropped_packets_total{%s}[$__rate_interval])" % SEL, "dropped {{instance}} {{device}} {{reason}}"),
        ("rate(fabric_pcap_unattributed_packets_total{%s}[$__rate_interval])" % SEL, "unattributed {{instance}} {{device}} {{reason}}")],
        description="Drops: frames the capture lost (per-peer counts miss exactly these).")


BOARDS = {"accelmon-cluster.json": cluster_board,
          "accelmon-node.json": node_board,
          "accelmon-fabric.json": fabric_board}


def render(make):
    return json.dumps(make(), indent=2, sort_keys=False) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    check = "--check" in sys.argv
    bad = 0
    for name, make in BOARDS.items():
        path = os.path.join(here, name)
        text = render(make)
        if check:
            try:
                with open(path) as f:
                    same = f.read() == text
            except OSError:
                same = False
            if not same:
                print("mkdash: %s differs from mkdash.py (run python3 "
                      "dashboards/mkdash.py)" % path)
                bad = 1
        else:
            with open(path, "w") as f:
                f.write(text)
    return bad


if __name__ == "__main__":
    sys.exit(main())
