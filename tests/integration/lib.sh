# Shared helpers for the integration tests (sourced). Each test starts the
# servers it needs on loopback and stops them on exit.
set -u
: "${ACCELMON:?run through make check (ACCELMON unset)}"
: "${ABS_SRCDIR:?}"
FIXTURES="$ABS_SRCDIR/tests/fixtures"
WORK=$(mktemp -d /tmp/accelmon-it.XXXXXX)
PIDS=""

cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  for p in $PIDS; do wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
ok() { echo "ok: $*"; }

# A loopback TCP port nobody listens on.
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$EPHEMERAL_LOW" -gt 11000 ] 2>/dev/null || EPHEMERAL_LOW=32768
free_port() {
  local p
  for _ in $(seq 1 50); do
    # Below the kernel's ephemeral range: a port there may be the local end
    # of some client's connection, which no probe sees but bind() refuses.
    p=$(( 10000 + (RANDOM * 32768 + RANDOM) % (${EPHEMERAL_LOW:-32768} - 10000) ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

# wait_http URL [seconds]: until it answers 200.
wait_http() {
  local deadline=$(( $(date +%s) + ${2:-10} ))
  while [ "$(date +%s)" -le "$deadline" ]; do
    curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# start_agent ARGS...: runs accelmon in the background, log in $WORK/agent.log.
start_agent() {
  "$ACCELMON" "$@" >"$WORK/agent.out" 2>"$WORK/agent.log" &
  AGENT_PID=$!
  PIDS="$PIDS $AGENT_PID"
}

need() { command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed"; }

# A long test (outages, fleets, soaks): runs in every plain `make check`.
# .ci/run sets ACCELMON_LONG_TESTS=0 for the repeated distcheck and ASan
# passes, so it runs once per CI and not again under each build, and
# ACCELMON_LONG_TESTS=race under TSan, where the tests marked `long_test
# race` (concurrency under load: no drops) run again.
long_test() {
  case "${ACCELMON_LONG_TESTS:-1}" in
    0) skip "long test (ACCELMON_LONG_TESTS=0: it ran in CI's main pass)" ;;
    race) [ "${1:-}" = race ] ||
      skip "long test (ACCELMON_LONG_TESTS=race: only race-relevant ones)" ;;
  esac
  return 0
}

# install_staged DIR: `make install DESTDIR=DIR` of the build tree; sets
# ROOT=DIR, AGENT and PC (the installed agent and accelmon.pc) and points
# pkg-config at the staged tree only (sysroot rewrites its -I path).
install_staged() {
  ROOT=$1
  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} -C "${ABS_BUILDDIR:?}" \
    install DESTDIR="$ROOT" >"$WORK/install.log" 2>&1 ||
    { tail -20 "$WORK/install.log"; fail "make install DESTDIR=$ROOT"; }
  PC=$(find "$ROOT" -name accelmon.pc -path '*/pkgconfig/*' | head -1)
  AGENT=$(find "$ROOT" -name accelmon -type f -perm -u+x -path '*/bin/*' | head -1)
  [ -n "$PC" ] || fail "make install put no accelmon.pc under $ROOT"
  [ -n "$AGENT" ] || fail "make install put no accelmon binary under $ROOT"
  export PKG_CONFIG_LIBDIR="$(dirname "$PC")" PKG_CONFIG_PATH= PKG_CONFIG_SYSROOT_DIR="$ROOT"
}
