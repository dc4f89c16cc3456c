#!/usr/bin/env python3
"""Checks of dashboards/ that promtool cannot make (run by rules.sh):
every metric name a Grafana panel or a rule uses is one the agent exports
(names file: one per line) or one a recording rule defines, so a renamed
metric fails the build, not the board; the boards keep to their contract
(stable unique uids, the datasource variable on every panel and query,
cluster/node/model variables, no hard-coded instance); every alert has a
unit test in which it fires. Writes every panel query, with the Grafana
variables replaced, as a rules file for promtool to parse.
Usage: dashcheck.py DASHBOARD_DIR NAMES_FILE OUT_RULES_FILE
       dashcheck.py --filled DASHBOARD_DIR PROMETHEUS_URL [ALLOWED_EMPTY]
The second form runs every panel query against a Prometheus (ranges of the
short test run) and fails for one that returns nothing, but for those
ALLOWED_EMPTY lists (lines "BOARD.json: panel 'TITLE'", # comments)."""
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


def substitute(expr, gvars=GRAFANA_VARS):
    for k, v in gvars:
        expr = expr.replace(k, v)
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def filled(ddir, url, allowed_file):
    """Every panel has data: each of its queries, on a Prometheus that
    scrapes `accelmon --simulate 8`, returns something."""
    import glob
    import urllib.parse
    import urllib.request
    gvars = [("$__range_s", "30"), ("$__range", "30s"),
             ("$__rate_interval", "10s"), ("$__interval", "10s")]
    allowed = set()
    if allowed_file:
        allowed = {l.strip() for l in open(allowed_file)
                   if l.strip() and not l.startswith("#")}
    empty, seen_allowed, n = [], set(), 0
    for path in sorted(glob.glob(ddir + "/*.json")):
        f = path.rsplit("/", 1)[1]
        for p in json.load(open(path))["panels"]:
            if p["type"] == "row":
                continue
            where = "%s: panel '%s'" % (f, p["title"])
            got = 0
            for t in p["targets"]:
                n += 1
                q = urllib.parse.urlencode({"query": substitute(t["expr"], gvars)})
                with urllib.request.urlopen(url + "/api/v1/query?" + q) as r:
                    d = json.load(r)["data"]
                got += len(d["result"]) if d["resultType"] in ("vector", "matrix") else 1
            if got:
                continue
            if where in allowed:
                seen_allowed.add(where)
            else:
                empty.append(where)
    for e in empty:
        print("FAIL: no data: " + e)
    for a in sorted(allowed - seen_allowed):
        print("FAIL: allowed-empty entry has data now (remove it): " + a)
    if empty or allowed - seen_allowed:
        return 1
    print("ok: %d queries; every panel has data but the %d allowed empty"
          % (n, len(allowed)))
    return 0


def main():
    if sys.argv[1] == "--filled":
        return filled(sys.argv[2], sys.argv[3],
                      sys.argv[4] if len(sys.argv) > 4 else None)
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
