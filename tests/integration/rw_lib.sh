# Helpers for the remote write tests (sourced after lib.sh): start the
# receivers on loopback with their own data directories, and turn both the
# agent's /metrics and a receiver's query answer into sorted
# `name{k="v",...} value` lines that can be compared.

# start_prom_rw PORT DATADIR: Prometheus as a remote write receiver.
start_prom_rw() {
  printf 'global: {}\n' > "$WORK/prom-rw.yml"
  prometheus --config.file="$WORK/prom-rw.yml" --storage.tsdb.path="$2" \
    --web.listen-address="127.0.0.1:$1" --web.enable-remote-write-receiver \
    >>"$WORK/prom.log" 2>&1 &
  PROM_PID=$!
  PIDS="$PIDS $PROM_PID"
  wait_http "http://127.0.0.1:$1/-/ready" 30 || fail "prometheus not ready: $(tail -5 "$WORK/prom.log")"
}

# start_vm PORT DATADIR: VictoriaMetrics single node; queries see data up to
# now (-search.latencyOffset=0s).
start_vm() {
  victoria-metrics -httpListenAddr="127.0.0.1:$1" -storageDataPath="$2" \
    -search.latencyOffset=0s -retentionPeriod=1 >>"$WORK/vm.log" 2>&1 &
  VM_PID=$!
  PIDS="$PIDS $VM_PID"
  wait_http "http://127.0.0.1:$1/health" 30 || fail "victoria-metrics not ready: $(tail -5 "$WORK/vm.log")"
}

stop_pid() {
  kill "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

# metrics_norm URL EXTRA_LABELS: the collector series of /metrics (self
# metrics left out: they are not pushed), with EXTRA_LABELS (k="v",...)
# added, empty labels left out and the labels sorted.
metrics_norm() {
  curl -fsS "$1" | grep -v '^#' | grep -v '^accelmon_' | grep -v '^process_' |
    awk -v extra="$2" '
    {
      line = $0; val = line; sub(/.* /, "", val); sub(/ [^ ]*$/, "", line)
      name = line; lab = ""
      if (index(line, "{")) { name = substr(line, 1, index(line, "{") - 1)
        lab = substr(line, index(line, "{") + 1); sub(/}$/, "", lab) }
      if (extra != "") lab = lab == "" ? extra : lab "," extra
      n = split(lab, kv, /",/)
      for (i = 1; i <= n; i++) { if (i < n) kv[i] = kv[i] "\""; }
      # an empty value is no label (PromQL, remote write)
      m = 0; for (i = 1; i <= n; i++) if (kv[i] !~ /=""$/) kv[++m] = kv[i]; n = m
      # insertion sort by label name
      for (i = 2; i <= n; i++) { x = kv[i]; j = i - 1
        while (j > 0 && kv[j] > x) { kv[j + 1] = kv[j]; j-- } kv[j + 1] = x }
      out = ""; for (i = 1; i <= n; i++) out = out (i > 1 ? "," : "") kv[i]
      printf "%s{%s} %s\n", name, out, val
    }' | sort
}

# query_norm API QUERY: an instant query's vector as the same lines.
query_norm() {
  curl -fsS --get --data-urlencode "query=$2" "$1/api/v1/query" |
    jq -r '.data.result[] | (.metric["__name__"]) + "{" +
      ([.metric | to_entries[] | select(.key != "__name__")] | sort_by(.key) |
       map(.key + "=\"" + .value + "\"") | join(",")) + "} " + .value[1]' | sort
}

# same_series A B: the two files name the same series (values aside).
same_series() {
  diff <(sed 's/ [^ ]*$//' "$1") <(sed 's/ [^ ]*$//' "$2")
}

# values_match BEFORE GOT AFTER [REL]: for every series, GOT's value equals
# BEFORE's when BEFORE and AFTER agree (a value that did not change), and
# lies between them when it moved (a counter pushed in between); REL is the
# relative error allowed (0: the same double).
values_match() {
  join <(sed 's/ \([^ ]*\)$/\t\1/' "$1" | sort -t "$(printf '\t')" -k1,1) \
       <(sed 's/ \([^ ]*\)$/\t\1/' "$2" | sort -t "$(printf '\t')" -k1,1) -t "$(printf '\t')" |
  join - <(sed 's/ \([^ ]*\)$/\t\1/' "$3" | sort -t "$(printf '\t')" -k1,1) -t "$(printf '\t')" |
  awk -F '\t' -v rel="${4:-0}" '
    function near(x, y) { d = x - y; if (d < 0) d = -d; m = x < 0 ? -x : x
      return x == y || d <= rel * m }
    {
      a = $2 + 0; g = $3 + 0; b = $4 + 0
      if (near(a, b)) { if (!near(g, a)) { print "differs: " $1 " /metrics " $2 " receiver " $3; bad++ } }
      else if (!((g >= a || near(g, a)) && (g <= b || near(g, b)))) { print "out of range: " $1 " " $3 " not in [" $2 ", " $4 "]"; bad++ }
      n++ }
    END { if (!n) { print "no series compared"; exit 1 } exit bad > 0 }'
}
