#!/usr/bin/env bash
# Benchmark: the supervision engine, against Icinga 2 on the same machine.
#  a) CPU per check: N native TCP and N native HTTP checks at a 10 s interval, against
#     Icinga 2 running check_tcp / check_http on the same targets at the same interval;
#     CPU seconds (the whole process tree, plugins included) per 1,000 checks done. Beside
#     them, the floor: a blocking loop that makes the same connections at the same rate and
#     nothing else (crates/pupitre-probe/examples/floor.rs).
#  b) Scheduling at scale: 10,000 TCP checks at a 60 s interval, measured for 5 minutes after
#     the first full interval: lag p50/p99 from the engine's lag histogram, server CPU.
#  c) Plugin throughput: check_tcp through the plugin probe against Icinga 2 running the same
#     plugin with the same arguments, both given more checks than they can run: executions/s
#     and CPU per execution.
# Targets (loopback only): an accept-and-close TCP port and a minimal HTTP server
# (bench/supervision.py targets). Every load is bounded in time; every process started here
# is stopped on exit.
#
# Usage: bench/supervision.sh [a] [b] [c]     (no argument: all three, in that order)
# Optional environment:
#   RUNS (2)            measurements of each case; the cases of a run are interleaved
#   PEERS (1)           0 = Pupitre only (no Icinga 2)
#   PORT (38183)        Pupitre's port; TCP_PORT (18010) and HTTP_PORT (18011) for the targets
#   A_CHECKS (1000), A_INTERVAL (10), A_WARMUP (15), A_WINDOW (60)
#   B_CHECKS (10000), B_INTERVAL (60), B_WARMUP (65), B_WINDOW (300)
#   C_CHECKS ("1000 10000": a list; 1,000 at 10 s both keep up, 10,000 at 10 s saturates both),
#   C_INTERVAL (10), C_WARMUP (20), C_WINDOW (60)
#   CREATE (restart)    how checks are created, always one POST /api/v1/checks each:
#                       restart = with the engine off (PUPITRE_MONITORING_ENGINE=false), then
#                       the server restarts with it; live = with the engine running
#   CGROUP (auto)       auto = also account CPU through a cgroup of our own (cpuacct or
#                       cgroup v2) as a cross-check of the /proc sums when one can be made; 0 = not
#   COMMIT              what the report names as the commit (default: git rev-parse HEAD)
#   KEEP (0)            1 keeps the temporary directory (databases, Icinga 2 logs and perfdata)
# After each Pupitre case it also times 3 more POST /api/v1/checks with the engine running, and it
# splits Pupitre's CPU by thread (tokio workers against SQLite's threads).
# Prints markdown tables; writes bench/out/supervision.md and the raw measurements, one JSON
# object per line, to bench/out/supervision.jsonl. The last line is `SUMMARY {json}`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RUNS="${RUNS:-2}"
PEERS="${PEERS:-1}"
PORT="${PORT:-38183}"
TCP_PORT="${TCP_PORT:-18010}"
HTTP_PORT="${HTTP_PORT:-18011}"
A_CHECKS="${A_CHECKS:-1000}"
A_INTERVAL="${A_INTERVAL:-10}"
A_WARMUP="${A_WARMUP:-15}"
A_WINDOW="${A_WINDOW:-60}"
B_CHECKS="${B_CHECKS:-10000}"
B_INTERVAL="${B_INTERVAL:-60}"
B_WARMUP="${B_WARMUP:-65}"
B_WINDOW="${B_WINDOW:-300}"
C_CHECKS="${C_CHECKS:-1000 10000}"
C_INTERVAL="${C_INTERVAL:-10}"
C_WARMUP="${C_WARMUP:-20}"
C_WINDOW="${C_WINDOW:-60}"
CREATE="${CREATE:-restart}"
CGROUP="${CGROUP:-auto}"
KEEP="${KEEP:-0}"
PLUGIN_DIR=/usr/lib/nagios/plugins
BASE="http://127.0.0.1:${PORT}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release/pupitre"
FLOOR="$TARGET_DIR/release/examples/floor"
PY="$ROOT/bench/supervision.py"
OUT_DIR="$ROOT/bench/out"
OUT="$OUT_DIR/supervision.md"
RESULTS="$OUT_DIR/supervision.jsonl"
export PUPITRE_ADMIN_PASSWORD="${PUPITRE_ADMIN_PASSWORD:-bench-Admin-Passw0rd!}"

die() { echo "supervision: FAIL: $*" >&2; exit 1; }
step() { echo "== $(date -u +%H:%M:%S) $*"; }

BENCHES=("$@")
[[ ${#BENCHES[@]} -gt 0 ]] || BENCHES=(a b c)
for b in "${BENCHES[@]}"; do
  [[ "$b" =~ ^[abc]$ ]] || die "unknown benchmark '$b' (a, b or c)"
done
[[ "$CREATE" == restart || "$CREATE" == live ]] || die "CREATE must be restart or live"

for tool in cargo curl python3; do
  command -v "$tool" > /dev/null || die "$tool is not installed"
done

# Icinga 2 and the plugins come from Debian's packages; no daemon may start on install.
need_packages=()
[[ -x "$PLUGIN_DIR/check_tcp" && -x "$PLUGIN_DIR/check_http" ]] || need_packages+=(monitoring-plugins-basic)
if [[ "$PEERS" == 1 ]] && ! command -v icinga2 > /dev/null; then need_packages+=(icinga2); fi
if [[ ${#need_packages[@]} -gt 0 ]]; then
  [[ $(id -u) == 0 ]] || die "needs ${need_packages[*]} (apt-get install -y ${need_packages[*]}, as root)"
  step "installing ${need_packages[*]} (apt-get; services kept from starting by policy-rc.d)"
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" > /dev/null
  [[ $made_policy == 1 ]] && rm -f /usr/sbin/policy-rc.d
fi
ICINGA_VERSION=""
if [[ "$PEERS" == 1 ]]; then
  ICINGA_VERSION="$(icinga2 --version 2> /dev/null | grep -o 'version: [^)]*' | head -n 1 | cut -d' ' -f2)"
fi
PLUGINS_VERSION="$(dpkg-query -W -f='${Version}' monitoring-plugins-basic 2> /dev/null || echo unknown)"

for p in "$PORT" "$TCP_PORT" "$HTTP_PORT"; do
  if (echo > "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then
    die "something already listens on 127.0.0.1:$p; set PORT, TCP_PORT or HTTP_PORT"
  fi
done

step "building (cargo build --release -p pupitre, and the floor example; target dir $TARGET_DIR)"
cargo build --release -p pupitre
cargo build --release -p pupitre-probe --example floor
if [[ -z "${COMMIT:-}" ]]; then # COMMIT may be given, e.g. for a tree exported with git archive
  COMMIT="$(git rev-parse --short HEAD 2> /dev/null || echo unknown)"
  if ! git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2> /dev/null; then
    COMMIT="$COMMIT + uncommitted changes"
  fi
fi

TMP="$(mktemp -d -t pupitre-bench-supervision.XXXXXX)"
SERVER_PID=""
ICINGA_PID=""
TARGETS_PID=""
CGROUPS=()

# --- cgroup of our own, for the cross-check ---------------------------------------------
CG_ROOT=""
if [[ "$CGROUP" == auto ]]; then
  if [[ -d /sys/fs/cgroup/cpuacct ]] && mkdir "/sys/fs/cgroup/cpuacct/pupitre-bench-$$" 2> /dev/null; then
    rmdir "/sys/fs/cgroup/cpuacct/pupitre-bench-$$"
    CG_ROOT=/sys/fs/cgroup/cpuacct
  elif [[ -f /sys/fs/cgroup/cgroup.controllers ]] && mkdir "/sys/fs/cgroup/pupitre-bench-$$" 2> /dev/null; then
    rmdir "/sys/fs/cgroup/pupitre-bench-$$"
    CG_ROOT=/sys/fs/cgroup
  fi
fi
# new_cgroup NAME: prints the path of a fresh cgroup (empty when there is none).
new_cgroup() {
  [[ -n "$CG_ROOT" ]] || return 0
  local path="$CG_ROOT/pupitre-bench-$$-$1"
  mkdir "$path" && CGROUPS+=("$path") && echo "$path"
}
# spawn_in CGROUP LOG CMD...: starts CMD in the background, inside CGROUP when given; sets SPAWNED.
spawn_in() {
  local cg=$1 log=$2
  shift 2
  if [[ -n "$cg" ]]; then
    sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@" >> "$log" 2>&1 &
  else
    "$@" >> "$log" 2>&1 &
  fi
  SPAWNED=$!
}
drop_cgroup() {
  local cg=$1 i
  [[ -n "$cg" && -d "$cg" ]] || return 0
  for ((i = 0; i < 50; i++)); do
    [[ -n "$(cat "$cg/cgroup.procs" 2> /dev/null)" ]] || break
    sleep 0.1
  done
  rmdir "$cg" 2> /dev/null || echo "note: could not remove $cg (still has tasks)" >&2
}

stop_pid() { # stop_pid PID: SIGTERM, then SIGKILL after 15 s
  local pid=$1 i
  [[ -n "$pid" ]] && kill -0 "$pid" 2> /dev/null || return 0
  kill "$pid" 2> /dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2> /dev/null; then
    echo "note: $pid did not stop within 15 s; killing it" >&2
    kill -9 "$pid" 2> /dev/null || true
  fi
  wait "$pid" 2> /dev/null || true
}
stop_server() { stop_pid "$SERVER_PID"; SERVER_PID=""; }
stop_icinga() {
  local pid=$ICINGA_PID children
  [[ -n "$pid" ]] || return 0
  # The daemon's other processes (main process, spawn helper) end with it; make sure of it.
  children="$(pgrep -P "$pid" 2> /dev/null || true)"
  stop_pid "$pid"
  for c in $children; do stop_pid "$c"; done
  ICINGA_PID=""
}
cleanup() {
  local rc=$?
  trap - EXIT
  stop_server
  stop_icinga
  stop_pid "$TARGETS_PID"
  for cg in "${CGROUPS[@]}"; do drop_cgroup "$cg"; done
  if [[ $rc -ne 0 ]]; then
    for log in "$TMP"/*.log; do
      [[ -s "$log" ]] || continue
      echo "--- last lines of ${log#"$TMP"/} ($TMP kept) ---" >&2
      tail -n 15 "$log" >&2
    done
  elif [[ "$KEEP" == 1 ]]; then
    echo "KEEP=1: everything kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Pupitre ------------------------------------------------------------------------------
# start_server DATA_DIR CGROUP [ENGINE]: pupitre serve, waits for /readyz.
start_server() {
  local data=$1 cg=$2 engine=${3:-true}
  PUPITRE_MONITORING_ENGINE=$engine spawn_in "$cg" "$TMP/server.log" \
    "$BIN" serve --data-dir "$data" --listen "127.0.0.1:$PORT"
  SERVER_PID=$SPAWNED
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null --max-time 2 "$BASE/readyz" 2> /dev/null; do
    kill -0 "$SERVER_PID" 2> /dev/null || die "the server exited before becoming ready"
    ((SECONDS < deadline)) || die "$BASE/readyz did not answer 200 within 60 s"
    sleep 0.2
  done
}

# floor_case KIND CHECKS INTERVAL RUN: the least CPU a checker can spend per check on this machine
# (crates/pupitre-probe/examples/floor.rs): a blocking loop making the same connections at the
# same rate for 30 s, with no scheduler, no check state and no storage.
floor_case() {
  local kind=$1 checks=$2 interval=$3 run=$4 port=$TCP_PORT rate out
  [[ "$kind" == http ]] && port=$HTTP_PORT
  rate=$((checks / interval))
  step "[a run $run] floor: $kind, $rate connections/s for 30 s"
  out="$("$FLOOR" "$kind" "127.0.0.1:$port" $((rate * 30)) "$rate")"
  echo "  => floor $kind: $out"
  echo "{\"bench\":\"a\",\"system\":\"floor\",\"kind\":\"$kind\",\"checks\":$checks,\"interval_s\":$interval,\"run\":$run,\"floor\":$out,\"cpu_s_per_1000\":$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cpu_s_per_1000"])' "$out")}" >> "$RESULTS"
}

# pupitre_case BENCH KIND CHECKS INTERVAL WARMUP WINDOW RUN: a fresh server and database, CHECKS
# checks of KIND created through the API, then one measurement.
pupitre_case() {
  local bench=$1 kind=$2 checks=$3 interval=$4 warmup=$5 window=$6 run=$7
  local name="pupitre-$bench-$kind-$checks-$run" data cg create_json
  data="$TMP/$name"
  mkdir -p "$data"
  step "[$bench run $run] Pupitre: $checks $kind checks every $interval s"
  local engine=true
  [[ "$CREATE" == restart ]] && engine=false
  start_server "$data" "" "$engine"
  local token
  token="$("$BIN" admin tokens create --data-dir "$data" --login admin --name bench --expires-days 1 2> /dev/null | tail -n 1)"
  [[ -n "$token" ]] || die "pupitre admin tokens create printed no token"
  python3 "$PY" create --base "$BASE" --token "$token" --n "$checks" --kind "$kind" --interval "$interval" \
    --timeout 5 --tcp-port "$TCP_PORT" --http-port "$HTTP_PORT" --plugin "$PLUGIN_DIR/check_tcp" \
    | tee "$TMP/create.out"
  create_json="$(tail -n 1 "$TMP/create.out")"
  echo "{\"bench\":\"create\",\"system\":\"pupitre\",\"kind\":\"$kind\",\"mode\":\"$CREATE\",\"run\":$run,\"result\":$create_json}" >> "$RESULTS"
  # The measured server is always a fresh process (its CPU counters start at zero), inside its
  # own cgroup when there is one.
  stop_server
  cg="$(new_cgroup "$name")"
  start_server "$data" "$cg" true
  python3 "$PY" measure --pid "$SERVER_PID" --cgroup "$cg" --metrics "$BASE/metrics" --system pupitre \
    --bench "$bench" --kind "$kind" --checks "$checks" --interval "$interval" --run "$run" \
    --warmup "$warmup" --window "$window" --out "$RESULTS"
  curl -fsS "$BASE/metrics" > "$TMP/$name.metrics" || true
  # What one more check costs to create once the engine runs them all (each create makes the
  # engine read that check, the downtimes and the relations again): 3 creates, after the window.
  python3 "$PY" create --base "$BASE" --token "$token" --n 3 --kind "$kind" --asset extra --interval "$interval" \
    --timeout 5 --tcp-port "$TCP_PORT" --http-port "$HTTP_PORT" --plugin "$PLUGIN_DIR/check_tcp" > "$TMP/create.out"
  echo "{\"bench\":\"create_live\",\"system\":\"pupitre\",\"kind\":\"$kind\",\"checks\":$checks,\"run\":$run,\"result\":$(tail -n 1 "$TMP/create.out")}" >> "$RESULTS"
  echo "  3 more checks created with the engine running $checks: $(tail -n 1 "$TMP/create.out")"
  stop_server
  drop_cgroup "$cg"
}

# --- Icinga 2 -----------------------------------------------------------------------------
# icinga_conf DIR: a standalone configuration (no /etc/icinga2, no API): one host, NumChecks
# services running CheckCommandName every CheckInterval seconds, results to perfdata files.
icinga_conf() {
  cat > "$1/icinga2.conf" << 'EOF'
/* bench/supervision.sh: standalone Icinga 2, loopback targets only, no API, no notifications. */
include <itl>
include <plugins>

const PluginDir = "/usr/lib/nagios/plugins"
const NodeName = "bench-icinga"
const ZoneName = NodeName

object CheckerComponent "checker" { }

object FileLogger "main-log" {
  severity = "information"
  path = LogDir + "/icinga2.log"
}

/* One line per service result; rotated (and flushed) every 10 s. */
object PerfdataWriter "perfdata" {
  service_perfdata_path = SpoolDir + "/perfdata/service-perfdata"
  host_perfdata_path    = SpoolDir + "/perfdata/host-perfdata"
  service_temp_path     = SpoolDir + "/perfdata/service-perfdata.tmp"
  host_temp_path        = SpoolDir + "/perfdata/host-perfdata.tmp"
  rotation_interval     = 10s
}

/* Pupitre's plugin check, argument for argument: check_tcp -H $HOSTADDRESS$ -p PORT */
object CheckCommand "bench_tcp" {
  command = [ PluginDir + "/check_tcp", "-H", "$address$", "-p", "$bench_port$" ]
}

object Host "loopback" {
  check_command  = "dummy"
  address        = "127.0.0.1"
  check_interval = 10s
  vars.check_ids = range(NumChecks)
}

apply Service "check-" for (i in host.vars.check_ids) {
  check_command      = CheckCommandName
  vars.tcp_address   = "127.0.0.1"
  vars.tcp_port      = TcpPort
  vars.bench_port    = TcpPort
  vars.http_address  = "127.0.0.1"
  vars.http_port     = HttpPort
  vars.http_uri      = "/"
  check_interval     = CheckInterval
  retry_interval     = CheckInterval
  check_timeout      = 5s
  max_check_attempts = 1
  enable_notifications = false
  enable_flapping    = false
  assign where host.name == "loopback"
}
EOF
}

# icinga_case BENCH KIND COMMAND CHECKS INTERVAL WARMUP WINDOW RUN
icinga_case() {
  local bench=$1 kind=$2 command=$3 checks=$4 interval=$5 warmup=$6 window=$7 run=$8
  local name="icinga2-$bench-$kind-$checks-$run" dir cg
  dir="$TMP/$name"
  step "[$bench run $run] Icinga 2: $checks services running $command every $interval s"
  mkdir -p "$dir/lib" "$dir/log" "$dir/cache" "$dir/spool/perfdata" "$dir/run"
  icinga_conf "$dir"
  local args=(-c "$dir/icinga2.conf" -DDataDir="$dir/lib" -DLogDir="$dir/log" -DCacheDir="$dir/cache"
    -DSpoolDir="$dir/spool" -DInitRunDir="$dir/run" -DNumChecks="$checks" -DCheckInterval="$interval"
    -DCheckCommandName="$command" -DTcpPort="$TCP_PORT" -DHttpPort="$HTTP_PORT")
  ICINGA2_USER=root ICINGA2_GROUP=root icinga2 daemon -C "${args[@]}" > "$dir/validate.out" 2>&1 \
    || die "icinga2 rejected the configuration: $(tail -n 20 "$dir/validate.out")"
  cg="$(new_cgroup "$name")"
  ICINGA2_USER=root ICINGA2_GROUP=root spawn_in "$cg" "$TMP/icinga2.log" icinga2 daemon "${args[@]}"
  ICINGA_PID=$SPAWNED
  # Ready when results start to come (checks begin within one interval of the start).
  local deadline=$((SECONDS + 120))
  until grep -q 'Checker' "$dir/log/icinga2.log" 2> /dev/null && [[ -n "$(ls "$dir/spool/perfdata" 2> /dev/null)" ]]; do
    kill -0 "$ICINGA_PID" 2> /dev/null || die "icinga2 exited before running checks"
    ((SECONDS < deadline)) || die "icinga2 ran no check within 120 s"
    sleep 0.5
  done
  python3 "$PY" measure --pid "$ICINGA_PID" --cgroup "$cg" --perfdata "$dir/spool/perfdata" --system icinga2 \
    --bench "$bench" --kind "$kind" --checks "$checks" --interval "$interval" --run "$run" \
    --warmup "$warmup" --window "$window" --out "$RESULTS"
  stop_icinga
  drop_cgroup "$cg"
  # A few hundred MB of perfdata at high rates; only the log is worth keeping.
  rm -rf "$dir/spool/perfdata"
}

# --- the run ------------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
: > "$RESULTS"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
MEM_GB="$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
step "machine: $(nproc) cores ($CPU_MODEL), $MEM_GB GiB, kernel $(uname -r); load average $LOAD_START"
[[ -n "$CG_ROOT" ]] && echo "CPU cross-check through cgroups under $CG_ROOT"

step "starting the targets: tcp 127.0.0.1:$TCP_PORT, http 127.0.0.1:$HTTP_PORT"
python3 "$PY" targets --tcp "$TCP_PORT" --http "$HTTP_PORT" --max-seconds 14400 > "$TMP/targets.log" 2>&1 &
TARGETS_PID=$!
for ((i = 0; i < 50; i++)); do
  curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$HTTP_PORT/" 2> /dev/null && break
  sleep 0.1
done
"$PLUGIN_DIR/check_tcp" -H 127.0.0.1 -p "$TCP_PORT" || die "check_tcp cannot reach the TCP target"
"$PLUGIN_DIR/check_http" -I 127.0.0.1 -p "$HTTP_PORT" -u / || die "check_http cannot reach the HTTP target"

for ((run = 1; run <= RUNS; run++)); do
  for bench in "${BENCHES[@]}"; do
    case "$bench" in
      a)
        for kind in tcp http; do
          pupitre_case a "$kind" "$A_CHECKS" "$A_INTERVAL" "$A_WARMUP" "$A_WINDOW" "$run"
          floor_case "$kind" "$A_CHECKS" "$A_INTERVAL" "$run"
          if [[ "$PEERS" == 1 ]]; then
            icinga_case a "$kind" "$kind" "$A_CHECKS" "$A_INTERVAL" "$A_WARMUP" "$A_WINDOW" "$run"
          fi
        done
        ;;
      b)
        pupitre_case b tcp "$B_CHECKS" "$B_INTERVAL" "$B_WARMUP" "$B_WINDOW" "$run"
        ;;
      c)
        for checks in $C_CHECKS; do
          pupitre_case c plugin "$checks" "$C_INTERVAL" "$C_WARMUP" "$C_WINDOW" "$run"
          if [[ "$PEERS" == 1 ]]; then
            icinga_case c plugin bench_tcp "$checks" "$C_INTERVAL" "$C_WARMUP" "$C_WINDOW" "$run"
          fi
        done
        ;;
    esac
  done
done

{
  echo "## supervision: ${BENCHES[*]}"
  echo
  echo "$STARTED to $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $COMMIT, $(nproc) cores ($CPU_MODEL), $MEM_GB GiB;" \
    "load average at start $LOAD_START; Icinga ${ICINGA_VERSION:-not run}, monitoring-plugins $PLUGINS_VERSION;" \
    "checks created with CREATE=$CREATE; $RUNS runs."
  echo
  python3 "$PY" report --results "$RESULTS" | sed '/^SUMMARY /d'
} > "$OUT"
echo
cat "$OUT"
python3 "$PY" report --results "$RESULTS" | grep '^SUMMARY '
echo "written to ${OUT#"$ROOT"/} and ${RESULTS#"$ROOT"/}"
