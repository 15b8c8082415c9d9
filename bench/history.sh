#!/usr/bin/env bash
# Benchmark: the metric history, against Prometheus 2.42 (Debian) on the same data.
#  a) A synthetic set of 10,000 series (bench/history.py synthetic: float gauges, counters,
#     whole-number gauges, constants; 15 s scrapes with a few ms of jitter; 3 hours).
#  b) Real node-exporter data recorded on this machine (bench/history.py record: a
#     prometheus-node-exporter on loopback scraped every 2 s, 300 times).
#  For each: Pupitre loads the file into a fresh SQLite history (crates/pupitre/examples/
#  history_ingest.rs: the parse apart, then durable batches, sealing and compaction, with the
#  process's CPU time for each), and `promtool tsdb create-blocks-from openmetrics` loads the
#  same file into Prometheus blocks. Reported: samples per CPU-second of ingest; bytes per
#  sample of raw chunks (Pupitre's chunk BLOBs; Prometheus's chunks/ files) and of everything
#  on disk (Pupitre's database after VACUUM, tiers included; Prometheus's blocks, index
#  included), each divided by the samples.
#  c) Query latency, through each one's HTTP API, median of 20: a 30-day graph of one series
#     (step 1 h) and a 24-hour aggregate over 1,000 series (avg, step 5 min), on a third data
#     set (bench/history.py queries) loaded into both.
#
# Usage: bench/history.sh            Optional environment: SERIES (10000), HOURS (3),
#   SCRAPES (300), NODE_OM (a node-exporter recording to reuse instead of recording one, 10 min),
#   KEEP (0: 1 keeps the temporary directory), COMMIT (git rev-parse HEAD).
# Prints markdown; writes bench/out/history.md and bench/out/history.jsonl.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SERIES="${SERIES:-10000}"
HOURS="${HOURS:-3}"
SCRAPES="${SCRAPES:-300}"
COMMIT="${COMMIT:-$(git rev-parse --short HEAD)}"
WORK="$(mktemp -d /tmp/pupitre-history-bench.XXXXXX)"
OUT="$ROOT/bench/out"
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if ! command -v promtool > /dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get install -y -qq --no-install-recommends prometheus prometheus-node-exporter > /dev/null
fi
promtool --version 2>&1 | head -1 >&2

cargo build --release -q -p pupitre --bin pupitre --example history_ingest
BIN="$ROOT/target/release/pupitre"
INGEST="$ROOT/target/release/examples/history_ingest"

echo "== data" >&2
python3 bench/history.py synthetic "$WORK/synthetic.om" --series "$SERIES" --hours "$HOURS"
if [ -n "${NODE_OM:-}" ]; then
  cp "$NODE_OM" "$WORK/node.om"   # a recording made earlier by `bench/history.py record`
else
  prometheus-node-exporter --web.listen-address=127.0.0.1:19100 > "$WORK/node-exporter.log" 2>&1 &
  PIDS+=($!)
  until curl -sf http://127.0.0.1:19100/metrics > /dev/null; do sleep 0.2; done
  python3 bench/history.py record "$WORK/node.om" --url http://127.0.0.1:19100/metrics --scrapes "$SCRAPES"
fi
python3 bench/history.py queries "$WORK/queries.om"

# du of a directory in bytes.
bytes() { du -sb "$1" | cut -f1; }
# CPU seconds (user + system) of a command, from GNU time's output file.
cpu_of() { awk '/User time/ {u=$4} /System time/ {s=$4} END {print u+s}' "$1"; }

pupitre_case() {  # name file
  local name="$1" file="$2" db="$WORK/$1-pupitre"
  mkdir -p "$db"
  "$INGEST" "sqlite://$db/pupitre.db" "$file" > "$WORK/$name-pupitre.json"
  python3 - "$db/pupitre.db" "$WORK/$name-pupitre.json" << 'EOF'
import json, os, sqlite3, sys
db, out = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db)
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.execute("VACUUM")
c.close()
r = json.load(open(out))
r["db_bytes"] = os.path.getsize(db)
json.dump(r, open(out, "w"))
EOF
}

prometheus_case() {  # name file
  local name="$1" file="$2" dir="$WORK/$1-prometheus"
  mkdir -p "$dir"
  /usr/bin/time -v promtool tsdb create-blocks-from openmetrics "$file" "$dir" > "$WORK/$name-promtool.log" 2> "$WORK/$name-promtool.time"
  python3 - "$dir" "$WORK/$name-promtool.time" "$WORK/$name-prometheus.json" << 'EOF'
import glob, json, os, sys
d, timing, out = sys.argv[1:4]
samples = chunks = total = 0
for meta in glob.glob(os.path.join(d, "*", "meta.json")):
    block = os.path.dirname(meta)
    samples += json.load(open(meta))["stats"]["numSamples"]
    for root, _, files in os.walk(block):
        for f in files:
            size = os.path.getsize(os.path.join(root, f))
            total += size
            if os.path.basename(root) == "chunks":
                chunks += size
text = open(timing).read()
cpu = 0.0
for line in text.splitlines():
    if "User time" in line or "System time" in line:
        cpu += float(line.split(":")[1])
json.dump({"samples": samples, "chunk_bytes": chunks, "total_bytes": total, "cpu_s": cpu}, open(out, "w"))
EOF
}

for name in synthetic node; do
  echo "== ingest: $name" >&2
  pupitre_case "$name" "$WORK/$name.om"
  prometheus_case "$name" "$WORK/$name.om"
done
echo "== query data" >&2
pupitre_case queries "$WORK/queries.om"
# Blocks as large as the data: Prometheus would compact them so over time.
mkdir -p "$WORK/queries-prometheus"
promtool tsdb create-blocks-from openmetrics --max-block-duration=744h "$WORK/queries.om" "$WORK/queries-prometheus" > /dev/null

echo "== queries" >&2
PORT=38190
PUPITRE_ADMIN_PASSWORD='bench-Admin-Passw0rd!' PUPITRE_MONITORING_ENGINE=false \
  "$BIN" serve --database-url "sqlite://$WORK/queries-pupitre/pupitre.db" --listen "127.0.0.1:$PORT" --log warn > "$WORK/pupitre.log" 2>&1 &
PIDS+=($!)
until curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null; do sleep 0.2; done
TOKEN="$("$BIN" admin tokens create --database-url "sqlite://$WORK/queries-pupitre/pupitre.db" --login admin --name bench --expires-days 1 | tail -n 1)"
[[ -n "$TOKEN" ]] || { echo "pupitre admin tokens create printed no token" >&2; exit 1; }
printf 'global:\n  scrape_interval: 1m\n' > "$WORK/prometheus.yml"
prometheus --storage.tsdb.path="$WORK/queries-prometheus" --storage.tsdb.retention.time=5y \
  --config.file="$WORK/prometheus.yml" --web.listen-address=127.0.0.1:19090 > "$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
until curl -sf http://127.0.0.1:19090/-/ready > /dev/null; do sleep 0.2; done

# Median seconds of 20 runs of a GET, after 3 warm-ups; fails on an answer that is not 200.
median() {
  local url="$1" auth="${2:-}" times=()
  for i in $(seq 23); do
    local t code
    read -r code t < <(curl -s -o "$WORK/answer.json" -w '%{http_code} %{time_total}\n' ${auth:+-H "Authorization: Bearer $auth"} "$url")
    [ "$code" = 200 ] || { echo "HTTP $code from $url: $(head -c 300 "$WORK/answer.json")" >&2; exit 1; }
    [ "$i" -gt 3 ] && times+=("$t")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
END_S=$(python3 -c "import time; print((int(time.time()) // 3600) * 3600 - 3600)")
LONG_START=$((END_S - 30 * 86400))
DAY_START=$((END_S - 86400))
q_long_pupitre=$(median "http://127.0.0.1:$PORT/api/v1/metrics/query?query=bench_long_disk_used_bytes&start=$LONG_START&end=$END_S&step=1h&aggregation=max" "$TOKEN")
points_long=$(python3 -c "import json; print(len(json.load(open('$WORK/answer.json'))['series'][0]['values']))")
q_long_prom=$(median "http://127.0.0.1:19090/api/v1/query_range?query=max_over_time(bench_long_disk_used_bytes%5B1h%5D)&start=$LONG_START&end=$END_S&step=3600")
q_fleet_pupitre=$(median "http://127.0.0.1:$PORT/api/v1/metrics/query?query=bench_fleet_load&start=$DAY_START&end=$END_S&step=5m&aggregation=avg" "$TOKEN")
series_fleet=$(python3 -c "import json; print(len(json.load(open('$WORK/answer.json'))['series']))")
q_fleet_prom=$(median "http://127.0.0.1:19090/api/v1/query_range?query=avg_over_time(bench_fleet_load%5B5m%5D)&start=$DAY_START&end=$END_S&step=300")

python3 - "$WORK" "$OUT" "$COMMIT" "$q_long_pupitre" "$q_long_prom" "$q_fleet_pupitre" "$q_fleet_prom" "$points_long" "$series_fleet" << 'EOF'
import json, sys
work, out, commit = sys.argv[1:4]
q = [float(x) * 1000 for x in sys.argv[4:8]]
points_long, series_fleet = sys.argv[8:10]
lines = [f"Metric history against Prometheus 2.42 (promtool), commit {commit}", "",
         "| Data | Samples | Pupitre ingest (samples/CPU-s) | of which durable writes | Prometheus promtool (samples/CPU-s) | Pupitre raw chunks B/sample | Prometheus chunks B/sample | Pupitre database B/sample (tiers included) | Prometheus blocks B/sample |",
         "|---|---|---|---|---|---|---|---|---|"]
jsonl = open(f"{out}/history.jsonl", "a")
for name in ["synthetic", "node"]:
    p = json.load(open(f"{work}/{name}-pupitre.json"))
    m = json.load(open(f"{work}/{name}-prometheus.json"))
    n = p["samples"]
    lines.append(
        f"| {name} ({p['series']} series) | {n:,} | {p['ingest_samples_per_cpu_s']:,.0f} | {p['write_samples_per_cpu_s']:,.0f} "
        f"| {m['samples'] / max(m['cpu_s'], 1e-9):,.0f} | {p['chunk_bytes'] / n:.3f} | {m['chunk_bytes'] / max(m['samples'], 1):.3f} "
        f"| {p['db_bytes'] / n:.3f} | {m['total_bytes'] / max(m['samples'], 1):.3f} |")
    jsonl.write(json.dumps({"commit": commit, "case": name, "pupitre": p, "prometheus": m}) + "\n")
lines += ["", "| Query (HTTP, median of 20) | Pupitre ms | Prometheus ms |", "|---|---|---|",
          f"| 30 days of one series, step 1 h ({points_long} points, max) | {q[0]:.1f} | {q[1]:.1f} |",
          f"| 24 h of {series_fleet} series, step 5 min (avg) | {q[2]:.1f} | {q[3]:.1f} |"]
jsonl.write(json.dumps({"commit": commit, "case": "queries", "ms": q}) + "\n")
text = "\n".join(lines) + "\n"
open(f"{out}/history.md", "w").write(text)
print(text)
EOF
