#!/usr/bin/env python3
"""Checks of dashboards/ that promtool cannot make (run by rules.sh):
every metric name a Grafana panel or a rule uses is one the agent exports
(names file: one per line) or one a recording rule defines, so a renamed
metric fails the build, not the board; the boards keep to their contract
(stable unique uids, the datasource variable on every panel and query,
cluster/node/model variables, no hard-coded instance); every alert has a
unit test in which it fires. Writes every panel query, with the Grafana
variables replaced, as a rules file for promtool to parse.
Usage: dashcheck.py DASHBOARD_DIR NAMES_FILE OUT_RULES_FILE"""
import json
import re
import sys

import yaml

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring",
            "group_left", "group_right", "bool", "offset", "inf", "nan"}
# Series Prometheus itself makes for every target (not the agent's).
PROMETHEUS = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
GRAFANA_VARS = [("$__range_s", "3600"), ("$__range", "1h"),
                ("$__rate_interval", "1m"), ("$__interval", "1m")]


def metric_names(expr):
    """The metric names a PromQL expression selects (a small lexer, enough
    for what the boards and rules write: strings, matchers, ranges and
    label lists removed, then identifiers not followed by '(')."""
    e = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
               " ", e)
    e = re.sub(r"(?<![A-Za-z0-9_:])\d+(\.\d*)?([eE][+-]?\d+)?", " ", e)
    out = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        name = m.group(0)
        rest = e[m.end():].lstrip()
        if name in KEYWORDS or rest.startswith("("):
            continue
        out.add(name)
    return out


def grafana_exprs(board):
    """(where, expr) of every query of a board: panels and variables."""
    for p in board.get("panels", []):
        for t in p.get("targets", []):
            if "expr" in t:
                yield "panel %r" % p.get("title"), t["expr"]
    for v in board.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("definition", "")
            m = re.match(r"label_values\((.*),\s*\w+\)$", q)
            yield "variable %s" % v["name"], m.group(1) if m else q


def substitute(expr):
    for k, v in GRAFANA_VARS:
        expr = expr.replace(k, v)
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def main():
    ddir, names_file, out_rules = sys.argv[1:4]
    have = {l.strip() for l in open(names_file) if l.strip()}
    errors = []
    rules = yaml.safe_load(open(ddir + "/accelmon.rules.yml"))
    recorded, alerts, rule_exprs = set(), [], []
    for g in rules["groups"]:
        for r in g["rules"]:
            if "record" in r:
                recorded.add(r["record"])
                rule_exprs.append(("record %s" % r["record"], r["expr"]))
            else:
                alerts.append(r["alert"])
                rule_exprs.append(("alert %s" % r["alert"], r["expr"]))

    def check_names(where, expr):
        for n in sorted(metric_names(substitute(expr))):
            if ":" in n:
                if n not in recorded:
                    errors.append("%s uses %s, which no recording rule defines"
                                  % (where, n))
            elif n not in have and n not in PROMETHEUS:
                errors.append("%s uses %s, which the agent does not export"
                              % (where, n))

    for where, expr in rule_exprs:
        check_names("accelmon.rules.yml: " + where, expr)

    import glob
    queries, uids, nboards, npanels = [], {}, 0, 0
    for path in sorted(glob.glob(ddir + "/*.json")):
        f = path.rsplit("/", 1)[1]
        board = json.load(open(path))
        nboards += 1
        uid = board.get("uid")
        if not uid or not re.fullmatch(r"[a-z0-9-]{1,40}", uid):
            errors.append("%s: uid %r is not a stable short name" % (f, uid))
        if uid in uids:
            errors.append("%s: uid %s also in %s" % (f, uid, uids[uid]))
        uids[uid] = f
        if board.get("schemaVersion", 0) < 36:
            errors.append("%s: schemaVersion %s is older than Grafana 9"
                          % (f, board.get("schemaVersion")))
        vars_ = {v["name"]: v for v in board["templating"]["list"]}
        for want in ("datasource", "cluster", "node", "model"):
            if want not in vars_:
                errors.append("%s: no $%s variable" % (f, want))
        if vars_.get("datasource", {}).get("type") != "datasource":
            errors.append("%s: $datasource is not a datasource variable" % f)
        ids = set()
        for p in board["panels"]:
            npanels += 1
            where = "%s: panel %r" % (f, p.get("title"))
            if p.get("id") in ids:
                errors.append("%s: id %s repeated" % (where, p.get("id")))
            ids.add(p.get("id"))
            if p["type"] == "row":
                continue
            if p.get("datasource", {}).get("uid") != "${datasource}":
                errors.append("%s: datasource is not ${datasource}" % where)
            if not p.get("targets"):
                errors.append("%s: no query" % where)
            for t in p.get("targets", []):
                if t.get("datasource", {}).get("uid") != "${datasource}":
                    errors.append("%s: a query's datasource is not ${datasource}"
                                  % where)
        for where, expr in grafana_exprs(board):
            where = "%s: %s" % (f, where)
            if re.search(r'instance\s*=~?\s*"[^$"]', expr):
                errors.append("%s: hard-coded instance in %s" % (where, expr))
            check_names(where, expr)
            queries.append((where, substitute(expr)))

    # every alert fires in some unit test
    tests = yaml.safe_load(open(ddir + "/accelmon.rules.test.yml"))
    fired = set()
    for t in tests["tests"]:
        for a in t.get("alert_rule_test", []):
            if a.get("exp_alerts"):
                fired.add(a["alertname"])
    for a in alerts:
        if a not in fired:
            errors.append("alert %s fires in no test of accelmon.rules.test.yml" % a)

    with open(out_rules, "w") as o:
        o.write("groups:\n  - name: dashboard\n    rules:\n")
        for i, (where, expr) in enumerate(queries):
            o.write("      # %s\n      - record: dashboard:q%d\n        expr: %s\n"
                    % (where.replace("\n", " "), i, json.dumps(expr)))

    for e in errors:
        print("FAIL: " + e)
    if errors:
        return 1
    print("ok: %d boards, %d panels, %d queries and %d rules use only exported "
          "or recorded names; %d alerts, each fires in a unit test"
          % (nboards, npanels, len(queries), len(rule_exprs), len(alerts),
             ) + "; uids " + ", ".join(sorted(uids)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
