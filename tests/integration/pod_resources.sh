#!/bin/bash
# Allocations from the kubelet's pod-resources API and Slurm's job
# environments (collectors/attribution.md), agent-level: `accelmon --once`
# with the fake libnvidia-ml.so.1 of tests/fixtures/procfs/nvml_alloc.ini on
# a cgroup v2 node (no device lists), the procfs fixture, and
# tests/fake_kubelet.py, a real gRPC server (grpcio) on a unix socket
# answering List from tests/fixtures/kubelet/pods.json. Pods that hold a GPU
# are accel_job_allocated, with their namespace and name on accel_job_info
# (from the pod log fixture); one that holds the idle GPU 1 is idle but held.
# Then the kubelet failing (one log line, its allocations gone) and absent
# (nothing said). Exit 0 pass, 1 fail, 77 skip (grpcio or promtool missing).
. "$(dirname "$0")/lib.sh"

LIB=$ABS_BUILDDIR/tests/fake_nvml/libnvidia-ml.so.1
[ -f "$LIB" ] || fail "$LIB not built"
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
[ -n "$PROMTOOL" ] || skip "promtool not found"
PY=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
	if "$p" -c 'import grpc, grpc_tools.protoc' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || skip "python3 with grpcio and grpc_tools not found (python3-grpcio, python3-grpc-tools)"

SOCK=$WORK/kubelet.sock
cp "$FIXTURES/kubelet/pods.json" "$WORK/pods.json"
"$PY" "$ABS_SRCDIR/tests/fake_kubelet.py" "$ABS_SRCDIR/agent/sdk/podresources.proto" \
	"$SOCK" "$WORK/pods.json" "$WORK/kubelet.log" 2> "$WORK/kubelet.err" &
KUBELET=$!
PIDS="$PIDS $KUBELET"
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "fake kubelet did not start: $(cat "$WORK/kubelet.err")"
mkdir -p "$WORK/sys"
cat > "$WORK/cfg.yaml" <<CFG
collectors:
  netdev: {enabled: false}
  nvml: {library: $LIB, interval: 200ms, event_wait: 1ms, pcie: false,
         pod_resources: $SOCK, pod_logs: $FIXTURES/procfs/pods}
CFG
run() { # output file
	FAKE_NVML_SCENARIO=$FIXTURES/procfs/nvml_alloc.ini "$ACCELMON" --once \
		--config "$WORK/cfg.yaml" --sysfs "$WORK/sys" --procfs "$FIXTURES/procfs/node" \
		> "$1" 2> "$1.err" || fail "accelmon --once: $(cat "$1.err")"
}
has() { grep -Fxq -- "$2" "$1" || fail "missing in $1: $2"; ok "$2"; }
hasnt() { ! grep -Fq -- "$2" "$1" || fail "unexpected in $1: $(grep -F -- "$2" "$1")"; ok "none: $2"; }

G0='device="nvidia0",uuid="GPU-a110c000-0000-4000-8000-000000000000"'
G1='device="nvidia1",uuid="GPU-a110c000-0000-4000-8000-000000000001"'
TRAIN=0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b
LLM=11112222-3333-4444-5555-666677778888

run "$WORK/out.prom"
"$PROMTOOL" check metrics < "$WORK/out.prom" > "$WORK/lint" 2>&1 ||
	fail "promtool check metrics: $(cat "$WORK/lint")"
ok "promtool check metrics"
grep -q '^List .*"user-agent": "accelmon' "$WORK/kubelet.log" || fail "the kubelet was not called: $(cat "$WORK/kubelet.log")"
ok "the kubelet answered $(grep -c '^List ' "$WORK/kubelet.log") List call(s)"
# train-0 holds GPU 1 and runs nothing: idle but held, the idle GPU's
# energy all its own (the Slurm jobs' environment claims on it do not
# count against the kubelet's record)
has "$WORK/out.prom" "accel_job_allocated{$G1,job=\"$TRAIN\",kind=\"kubernetes\"} 1"
has "$WORK/out.prom" "accel_job_info{$G1,job=\"$TRAIN\",kind=\"kubernetes\",user=\"\",step=\"\",container=\"\",namespace=\"team-a\",pod=\"train-0\"} 1"
has "$WORK/out.prom" "accel_job_busy_seconds_total{$G1,job=\"$TRAIN\",kind=\"kubernetes\"} 0"
e=$(grep -F "accel_job_energy_joules_total{$G1,job=\"$TRAIN\"," "$WORK/out.prom" | awk '{print $NF}')
awk -v e="$e" 'BEGIN { exit !(e > 0) }' || fail "train-0's energy on the idle GPU: '$e'"
ok "train-0 has $e J of the idle GPU 1"
# the replica of the shared GPU 0 (uuid::3) is GPU 0
has "$WORK/out.prom" "accel_job_allocated{$G0,job=\"$LLM\",kind=\"kubernetes\"} 1"
has "$WORK/out.prom" "accel_job_info{$G0,job=\"$LLM\",kind=\"kubernetes\",user=\"\",step=\"\",container=\"\",namespace=\"ml-serving\",pod=\"llm-7d9f-x2x\"} 1"
# Slurm's environments claim GPU 0 for 4242 (SLURM_JOB_GPUS=0, it runs
# there), GPU 1 for 4545 (by index) and 4646 (by UUID); the kubelet gives
# both GPUs to pods, so those claims do not count (4242 still runs on 0)
for j in "$G0,job=\"4242\"" "$G1,job=\"4545\"" "$G1,job=\"4646\""; do
	hasnt "$WORK/out.prom" "accel_job_allocated{$j,kind=\"slurm\"}"
done
grep -qF "accel_job_info{$G0,job=\"4242\",kind=\"slurm\"," "$WORK/out.prom" ||
	fail "4242 no longer seen running on GPU 0"
ok "4242 still runs on GPU 0"
# gone-1 has no log directory (no UID): left out, and said once. It holds
# GPU 0 by UUID: GPU 0's only Kubernetes holder is llm-7d9f-x2x.
n=$(grep -F "accel_job_allocated{$G0," "$WORK/out.prom" | grep -c 'kind="kubernetes"')
[ "$n" = 1 ] || fail "GPU 0's Kubernetes holders: $n, want 1 (gone-1 left out): $(grep -F "accel_job_allocated{$G0," "$WORK/out.prom")"
ok "GPU 0's one Kubernetes holder: gone-1 left out"
[ "$(grep -c 'have no directory in' "$WORK/out.prom.err")" = 1 ] ||
	fail "the pod without a log directory was not said once: $(cat "$WORK/out.prom.err")"
ok "the pod without a log directory is said once"
# the energy of the idle GPU 1 goes to its one holder, all of it
sum=$(grep -F "accel_job_energy_joules_total{$G1," "$WORK/out.prom" | awk '{s += $NF} END {printf "%.6f", s}')
n=$(grep -cF "accel_job_allocated{$G1," "$WORK/out.prom")
[ "$n" = 1 ] || fail "GPU 1 holders: $n, want 1"
awk -v s="$sum" 'BEGIN { exit !(s - 70 < 1e-6 && 70 - s < 1e-6) }' ||
	fail "GPU 1's holder's energy $sum J, want the 70 J of the interval"
ok "GPU 1's 70 J go to its one holder"

# The kubelet failing: said once, no Kubernetes allocation; Slurm's stay.
printf '{"fail": "pod resources unavailable (test)"}\n' > "$WORK/pods.json"
run "$WORK/fail.prom"
[ "$(grep -c 'kubelet pod-resources' "$WORK/fail.prom.err")" = 1 ] ||
	fail "the failing kubelet was not said once: $(cat "$WORK/fail.prom.err")"
grep -F 'kubelet pod-resources' "$WORK/fail.prom.err" | grep -q 'UNAVAILABLE\|status 14' ||
	fail "the log line does not say the gRPC status: $(cat "$WORK/fail.prom.err")"
ok "failing kubelet: $(grep -F 'kubelet pod-resources' "$WORK/fail.prom.err")"
hasnt_k8s() { ! grep -q '^accel_job_allocated{.*kind="kubernetes"' "$1" || fail "Kubernetes allocations in $1"; ok "no Kubernetes allocation in $1"; }
hasnt_k8s "$WORK/fail.prom"
has "$WORK/fail.prom" "accel_job_allocated{$G1,job=\"4545\",kind=\"slurm\"} 1"

# No kubelet (no socket): nothing said, nothing from it.
kill "$KUBELET" 2>/dev/null; wait "$KUBELET" 2>/dev/null
for _ in $(seq 1 50); do [ -S "$SOCK" ] || break; sleep 0.1; done
rm -f "$SOCK"
run "$WORK/none.prom"
hasnt "$WORK/none.prom.err" 'kubelet'
hasnt_k8s "$WORK/none.prom"
echo "PASS"
