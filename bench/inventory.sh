#!/usr/bin/env bash
# Benchmark (issue #3): the inventory at 100,000 assets and 1,000,000 software rows.
#  - import throughput (rows/s) of a 100,000-row asset CSV through POST /api/v1/assets/import
#    (and, optionally, `pupitre inventory import` on a copy of the database);
#  - p50/p99 latency of the global search and of filtered list pages, through the API and as
#    HTML, against ceilings measured in the same run: /healthz, static files of the same bytes
#    served by the same process, and the raw cost of the store's SQL (python3's sqlite3 on the
#    same database file).
#
# Usage: bench/inventory.sh
# Optional environment: PORT (38182), DURATION (15s), WARMUP (3s, 0 = none), THREADS (2),
# CONNECTIONS (32), TIMEOUT (10s, wrk's per-request timeout), ASSETS (100000),
# SOFTWARE_PER_ASSET (10), SOFTWARE_DISTINCT (5000), RACKS (100), PER_RACK (20 servers, 2U
# each), SEED (3), COMMON_Q (vm: a search prefix shared by every VM), SOFTWARE (openssl),
# SOFTWARE_VERSION (1.1), CLI_IMPORT (1: also time `pupitre inventory import`; 0 = skip),
# SQL_RUNS (300), KEEP (0; 1 keeps the temporary directory with the database for a closer look).
# Prints a markdown report and writes it to bench/out/inventory.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PORT="${PORT:-38182}"
DURATION="${DURATION:-15s}"
WARMUP="${WARMUP:-3s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
TIMEOUT="${TIMEOUT:-10s}"
ASSETS="${ASSETS:-100000}"
SOFTWARE_PER_ASSET="${SOFTWARE_PER_ASSET:-10}"
SOFTWARE_DISTINCT="${SOFTWARE_DISTINCT:-5000}"
RACKS="${RACKS:-100}"
PER_RACK="${PER_RACK:-20}"
SEED="${SEED:-3}"
COMMON_Q="${COMMON_Q:-vm}"
SOFTWARE="${SOFTWARE:-openssl}"
SOFTWARE_VERSION="${SOFTWARE_VERSION:-1.1}"
CLI_IMPORT="${CLI_IMPORT:-1}"
SQL_RUNS="${SQL_RUNS:-300}"
KEEP="${KEEP:-0}"
BASE="http://127.0.0.1:${PORT}"
BIN="$ROOT/target/release/pupitre"
DATA_PY="$ROOT/bench/inventory_data.py"
LUA="$ROOT/bench/inventory_search.lua"
OUT_DIR="$ROOT/bench/out"
OUT="$OUT_DIR/inventory.md"
export PUPITRE_ADMIN_PASSWORD="${PUPITRE_ADMIN_PASSWORD:-bench-Admin-Passw0rd!}"

die() { echo "inventory: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
now_ns() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e9 }'; }

for tool in cargo curl wrk awk python3; do
  command -v "$tool" > /dev/null || die "$tool is not installed (apt-get install -y wrk curl python3)"
done
[[ "$ASSETS" -ge $((RACKS * PER_RACK * 10)) ]] || die "ASSETS=$ASSETS is too small for RACKS=$RACKS x PER_RACK=$PER_RACK racked servers"
if curl -s -o /dev/null --max-time 1 "$BASE/"; then
  die "something already listens on 127.0.0.1:$PORT; set PORT to a free port"
fi

step "building (cargo build --release -p pupitre)"
cargo build --release -p pupitre
COMMIT="$(git rev-parse --short HEAD 2> /dev/null || echo unknown)"
if ! git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2> /dev/null; then
  COMMIT="$COMMIT + uncommitted changes"
fi

TMP="$(mktemp -d -t pupitre-bench-inventory.XXXXXX)"
mkdir -p "$TMP/data" "$TMP/public" "$TMP/cli"
SERVER_PID=""
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2> /dev/null; then
    kill "$SERVER_PID" 2> /dev/null || true
    wait "$SERVER_PID" 2> /dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  local rc=$?
  stop_server
  if [[ $rc -ne 0 && -s "$TMP/server.log" ]]; then
    echo "--- last lines of the server log ($TMP kept) ---" >&2
    tail -n 30 "$TMP/server.log" >&2
  elif [[ "$KEEP" == 1 ]]; then
    echo "KEEP=1: data, CSV, search words and wrk outputs kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT

start_server() {
  "$BIN" serve --data-dir "$TMP/data" --listen "127.0.0.1:$PORT" --public-dir "$TMP/public" \
    >> "$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null --max-time 2 "$BASE/readyz" 2> /dev/null; do
    kill -0 "$SERVER_PID" 2> /dev/null || die "the server exited before becoming ready"
    ((SECONDS < deadline)) || die "$BASE/readyz did not answer 200 within 60 s"
    sleep 0.2
  done
}

# api METHOD PATH [JSON]: a JSON call that must answer 2xx; the body goes to stdout.
api() {
  local method=$1 path=$2 body=${3:-} status
  if [[ -n "$body" ]]; then
    status="$(curl -sS -o "$TMP/api.out" -w '%{http_code}' -X "$method" -H "$AUTH" \
      -H 'Content-Type: application/json' --data "$body" "$BASE$path")"
  else
    status="$(curl -sS -o "$TMP/api.out" -w '%{http_code}' -X "$method" -H "$AUTH" "$BASE$path")"
  fi
  [[ "$status" == 2* ]] || die "$method $path answered $status: $(head -c 600 "$TMP/api.out")"
  cat "$TMP/api.out"
}
json_get() { python3 -c 'import json, sys; v = json.load(sys.stdin); print(eval(sys.argv[1], {"v": v}))' "$1"; }

step "generating $ASSETS assets as CSV (seed $SEED)"
python3 "$DATA_PY" csv --assets "$ASSETS" --seed "$SEED" --racks "$RACKS" --per-rack "$PER_RACK" \
  --out "$TMP/assets.csv" --words "$TMP/words.txt" | tee "$TMP/csv.txt"
CSV_BYTES="$(wc -c < "$TMP/assets.csv")"

step "starting the server on $BASE (data in $TMP/data)"
start_server

step "creating an API token"
TOKEN="$("$BIN" admin tokens create --data-dir "$TMP/data" --login admin --name bench --expires-days 1 | tail -n 1)"
[[ -n "$TOKEN" ]] || die "pupitre admin tokens create printed no token"
AUTH="Authorization: Bearer $TOKEN"

step "creating site, room and $RACKS racks for $((RACKS * PER_RACK)) racked servers"
site_id="$(api POST /api/v1/sites '{"name":"Paris DC1","time_zone":"Europe/Paris"}' | json_get 'v["id"]')"
room_id="$(api POST /api/v1/rooms "{\"site_id\":$site_id,\"name\":\"Salle A\",\"grid_rows\":$(((RACKS + 9) / 10)),\"grid_cols\":10}" | json_get 'v["id"]')"
for ((r = 1; r <= RACKS; r++)); do
  api POST /api/v1/racks "$(printf '{"room_id":%s,"name":"R%03d","height_u":42,"grid_row":%d,"grid_col":%d}' \
    "$room_id" "$r" $(((r - 1) / 10 + 1)) $(((r - 1) % 10 + 1)))" > /dev/null
done

if [[ "$CLI_IMPORT" == 1 ]]; then
  python3 "$DATA_PY" copy --db "$TMP/data/pupitre.db" --to "$TMP/cli/pupitre.db"
fi

step "importing $ASSETS rows: POST /api/v1/assets/import ($CSV_BYTES bytes of CSV)"
t0=$(now_ns)
status="$(curl -sS -o "$TMP/import.json" -w '%{http_code}' -X POST -H "$AUTH" -H 'Content-Type: text/csv' \
  --data-binary "@$TMP/assets.csv" "$BASE/api/v1/assets/import")"
case "$status" in
  200) ;;
  202)
    job="$(json_get 'v["id"]' < "$TMP/import.json")"
    echo "answered 202: job $job; polling GET /api/v1/assets/import/$job"
    next_print=$((SECONDS + 10))
    while :; do
      sleep 0.25
      curl -fsS -H "$AUTH" -o "$TMP/import.json" "$BASE/api/v1/assets/import/$job" \
        || die "GET /api/v1/assets/import/$job failed"
      state="$(json_get 'v["state"] + " " + v["stage"] + " " + str(v["done"]) + "/" + str(v["total"])' < "$TMP/import.json")"
      [[ "$state" == done* ]] && break
      if ((SECONDS >= next_print)); then
        echo "  ${SECONDS}s: $state"
        next_print=$((SECONDS + 10))
      fi
    done
    json_get 'v["error"]' < "$TMP/import.json" | grep -qx None \
      || die "the import job failed: $(json_get 'v["error"]' < "$TMP/import.json")"
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); json.dump(r["report"], open(sys.argv[1], "w"))' "$TMP/import.json"
    ;;
  *) die "POST /api/v1/assets/import answered $status: $(head -c 800 "$TMP/import.json")" ;;
esac
t1=$(now_ns)
created="$(json_get 'v["created"]' < "$TMP/import.json")"
errors="$(json_get 'len(v["errors"])' < "$TMP/import.json")"
[[ "$errors" == 0 ]] || die "the import reported $errors errors: $(json_get 'v["errors"][:5]' < "$TMP/import.json")"
[[ "$created" == "$ASSETS" ]] || die "the import created $created assets, not $ASSETS"
IMPORT_S="$(secs $((t1 - t0)))"
IMPORT_RPS="$(awk -v n="$ASSETS" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')"
IMPORT_SERVER_MS="$(grep 'asset import finished' "$TMP/server.log" | grep -o 'duration_ms=[0-9]*' | tail -n 1 | cut -d= -f2 || true)"
# The server's log gives the split between checking the rows and writing them.
IMPORT_SPLIT="$(python3 -c '
import re, sys
from datetime import datetime
ts = lambda line: datetime.fromisoformat(line.split()[0].rstrip("Z")[:26])
checked = finished = None
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if "stage=Check rows.done=" + sys.argv[2] + " " in line:
        checked = ts(line)
    if "asset import finished" in line:
        finished, ms = ts(line), int(re.search(r"duration_ms=(\d+)", line).group(1))
if checked and finished:
    start = finished.timestamp() - ms / 1000
    print(f"checking the rows {checked.timestamp() - start:.1f} s, writing them {finished.timestamp() - checked.timestamp():.1f} s")
' "$TMP/server.log" "$ASSETS" || true)"
echo "import: HTTP $status, $created assets in $IMPORT_S s ($IMPORT_RPS rows/s; server's own time ${IMPORT_SERVER_MS:-?} ms${IMPORT_SPLIT:+: $IMPORT_SPLIT})"

CLI_LINE=""
if [[ "$CLI_IMPORT" == 1 ]]; then
  step "importing the same file with pupitre inventory import (a copy of the database before the import)"
  t0=$(now_ns)
  "$BIN" inventory import --data-dir "$TMP/cli" "$TMP/assets.csv" > "$TMP/cli.out" 2>&1 \
    || die "pupitre inventory import failed: $(tail -n 20 "$TMP/cli.out")"
  t1=$(now_ns)
  grep -q "^$ASSETS rows: $ASSETS created" "$TMP/cli.out" || die "unexpected output of pupitre inventory import: $(tail -n 5 "$TMP/cli.out")"
  CLI_S="$(secs $((t1 - t0)))"
  CLI_RPS="$(awk -v n="$ASSETS" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')"
  CLI_LINE="- \`pupitre inventory import\` of the same file into a copy of the database taken before the import (process start, migrations check and exit included): $CLI_S s, **$CLI_RPS rows/s**."
  echo "cli import: $CLI_S s ($CLI_RPS rows/s)"
  rm -rf "$TMP/cli"
fi

step "seeding $((ASSETS * SOFTWARE_PER_ASSET)) software rows by SQL (server stopped)"
stop_server
python3 "$DATA_PY" software --db "$TMP/data/pupitre.db" --seed "$SEED" --distinct "$SOFTWARE_DISTINCT" \
  --per-asset "$SOFTWARE_PER_ASSET" | tee "$TMP/software.txt"
links="$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM asset_software").fetchone()[0])' "$TMP/data/pupitre.db")"
[[ "$links" == $((ASSETS * SOFTWARE_PER_ASSET)) ]] || die "asset_software holds $links rows, not $((ASSETS * SOFTWARE_PER_ASSET))"
DB_MB="$(du -sm "$TMP/data" | cut -f1)"
start_server
sleep 2 # the server refreshes the planner statistics as it starts (PRAGMA optimize)
STATS="$(python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
try:
    n = db.execute("SELECT COUNT(*) FROM sqlite_stat1").fetchone()[0]
    row = db.execute("SELECT idx, stat FROM sqlite_stat1 WHERE idx = ?", ("assets_type",)).fetchone()
    print(f"{n} rows in sqlite_stat1" + (f", e.g. assets_type: {row[1]}" if row else ", none for assets_type"))
except sqlite3.OperationalError:
    print("no sqlite_stat1 (no planner statistics)")
' "$TMP/data/pupitre.db")"
echo "planner statistics: $STATS"

SEARCH_API="/api/v1/assets?limit=50&q="
SEARCH_HTML="/inventory?q="
FILTER_API="/api/v1/assets?asset_type=server&status=in_production&limit=50"
SOFTWARE_API="/api/v1/assets?software=$SOFTWARE&software_version=$SOFTWARE_VERSION&limit=50"
FILTER_HTML="/inventory?asset_type=server&status=in_production"

step "checking the answers"
declare -A BYTES
fetch() { # fetch NAME PATH: saves one answer, checks 200, records its size
  local status
  status="$(curl -sS -o "$TMP/$1.body" -w '%{http_code}' -H "$AUTH" "$BASE$2")"
  [[ "$status" == 200 ]] || die "GET $2 answered $status: $(head -c 600 "$TMP/$1.body")"
  BYTES[$1]="$(wc -c < "$TMP/$1.body")"
}
items() { json_get 'len(v["items"])' < "$TMP/$1.body"; }
fetch filter_api "$FILTER_API"
[[ "$(items filter_api)" == 50 ]] || die "$FILTER_API returned $(items filter_api) items, not 50"
fetch software_api "$SOFTWARE_API"
[[ "$(items software_api)" == 50 ]] || die "$SOFTWARE_API returned $(items software_api) items, not 50"
fetch common_api "$SEARCH_API$COMMON_Q"
[[ "$(items common_api)" == 50 ]] || die "$SEARCH_API$COMMON_Q returned $(items common_api) items, not 50"
fetch filter_html "$FILTER_HTML"
grep -q "<html" "$TMP/filter_html.body" || die "$FILTER_HTML is not an HTML page (is the bearer token accepted on pages?)"
fetch common_html "$SEARCH_HTML$COMMON_Q"
cp "$TMP/filter_api.body" "$TMP/public/assets50.json"
cp "$TMP/filter_html.body" "$TMP/public/inventory.html"
for f in assets50.json inventory.html; do
  curl -fsS -o "$TMP/static.out" "$BASE/public/$f" || die "GET /public/$f failed"
  cmp -s "$TMP/static.out" "$TMP/public/$f" || die "/public/$f does not serve the same bytes as the file"
done
BYTES[healthz]="$(curl -fsS "$BASE/healthz" | wc -c)"
# Mean answer size over the first 100 search words; each must find something.
head -n 100 "$TMP/words.txt" > "$TMP/words100.txt"
sum_api=0 sum_html=0 n=0
while read -r w; do
  curl -fsS -H "$AUTH" -o "$TMP/w.body" "$BASE$SEARCH_API$w" || die "GET $SEARCH_API$w failed"
  found="$(items w)"
  [[ "$found" -ge 1 ]] || die "the search for $w found nothing (it is a word of an imported asset)"
  sum_api=$((sum_api + $(wc -c < "$TMP/w.body")))
  sum_html=$((sum_html + $(curl -fsS -H "$AUTH" "$BASE$SEARCH_HTML$w" | wc -c)))
  n=$((n + 1))
done < "$TMP/words100.txt"
BYTES[words_api]="~$((sum_api / n))"
BYTES[words_html]="~$((sum_html / n))"
WORDS="$(wc -l < "$TMP/words.txt")"

# run_wrk NAME PATH [LUA_ARGS...]: wrk after a warm-up, with the token header; with LUA_ARGS,
# through the search script. Fails on socket errors (timeouts included) or non-2xx/3xx answers.
run_wrk() {
  local name=$1 path=$2
  shift 2
  local script=()
  if [[ $# -gt 0 ]]; then script=(-s "$LUA"); fi
  local extra=()
  if [[ $# -gt 0 ]]; then extra=(-- "$@"); fi
  if [[ "$WARMUP" != 0 ]]; then
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" --timeout "$TIMEOUT" -H "$AUTH" "${script[@]}" "$BASE$path" "${extra[@]}" > /dev/null
  fi
  echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency $path ${*:+(script: $*)}"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout "$TIMEOUT" --latency -H "$AUTH" "${script[@]}" \
    "$BASE$path" "${extra[@]}" | tee "$TMP/$name.wrk"
  if grep -q -E 'Non-2xx or 3xx responses|Socket errors' "$TMP/$name.wrk"; then
    die "wrk saw errors on $path (see above)"
  fi
}

run_wrk healthz /healthz
run_wrk static_json /public/assets50.json
run_wrk static_html /public/inventory.html
run_wrk words_api "$SEARCH_API" "$SEARCH_API" "$TMP/words.txt"
run_wrk common_api "$SEARCH_API$COMMON_Q"
run_wrk filter_api "$FILTER_API"
run_wrk software_api "$SOFTWARE_API"
run_wrk words_html "$SEARCH_HTML" "$SEARCH_HTML" "$TMP/words.txt"
run_wrk common_html "$SEARCH_HTML$COMMON_Q"
run_wrk filter_html "$FILTER_HTML"

step "raw SQL: the store's queries with python3's sqlite3 on the same file ($SQL_RUNS runs each)"
python3 "$DATA_PY" sql --db "$TMP/data/pupitre.db" --words "$TMP/words.txt" --common "$COMMON_Q" \
  --software "$SOFTWARE" --version "$SOFTWARE_VERSION" --runs "$SQL_RUNS" > "$TMP/sql.md"

# row NAME BYTES TARGET: one markdown table row from wrk's output.
row() {
  local file="$TMP/$1.wrk" bytes=$2 target=$3 rps p50 p99
  rps="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$file")"
  p50="$(awk '$1 == "50%" { print $2 }' "$file")"
  p99="$(awk '$1 == "99%" { print $2 }' "$file")"
  [[ -n "$rps" && -n "$p50" && -n "$p99" ]] || die "could not parse wrk output in $file"
  echo "| $target | $bytes | $rps | $p50 | $p99 |"
}

mkdir -p "$OUT_DIR"
{
  echo "## inventory: $ASSETS assets, $((ASSETS * SOFTWARE_PER_ASSET)) software rows"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), commit $COMMIT$([[ "$(git rev-parse --short HEAD 2> /dev/null)" != "${COMMIT%% *}" ]] && echo " (HEAD moved to $(git rev-parse --short HEAD) during the run)")," \
    "$(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION --timeout $TIMEOUT (after a $WARMUP warm-up)," \
    "same machine as the server; token auth on every request."
  echo
  echo "| target | bytes | requests/s | p50 | p99 |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  row healthz "${BYTES[healthz]}" "\`GET /healthz\` — ceiling: HTTP and middleware only"
  row static_json "${BYTES[filter_api]}" "\`GET /public/assets50.json\` — ceiling: static, same bytes as the filtered API page"
  row static_html "${BYTES[filter_html]}" "\`GET /public/inventory.html\` — ceiling: static, same bytes as the filtered HTML page"
  row words_api "${BYTES[words_api]}" "\`GET /api/v1/assets?limit=50&q=<word>\` — search, $WORDS words in turn (host-name prefixes, IPs, MACs, serials)"
  row common_api "${BYTES[common_api]}" "\`GET /api/v1/assets?limit=50&q=$COMMON_Q\` — search, common prefix"
  row filter_api "${BYTES[filter_api]}" "\`GET $FILTER_API\`"
  row software_api "${BYTES[software_api]}" "\`GET $SOFTWARE_API\`"
  row words_html "${BYTES[words_html]}" "\`GET /inventory?q=<word>\` — HTML search, $WORDS words in turn"
  row common_html "${BYTES[common_html]}" "\`GET /inventory?q=$COMMON_Q\` — HTML search, common prefix"
  row filter_html "${BYTES[filter_html]}" "\`GET $FILTER_HTML\` — HTML filtered list"
  echo
  echo "Import and data:"
  echo
  echo "- \`POST /api/v1/assets/import\` of $ASSETS rows ($CSV_BYTES bytes of CSV, answered $status$([[ $status == 202 ]] && echo ', job polled every 0.25 s')):" \
    "$IMPORT_S s from the upload's start to the report, **$IMPORT_RPS rows/s** (server's own time: ${IMPORT_SERVER_MS:-?} ms${IMPORT_SPLIT:+: $IMPORT_SPLIT})."
  [[ -n "$CLI_LINE" ]] && echo "$CLI_LINE"
  echo "- CSV: $(cat "$TMP/csv.txt")."
  echo "- $(cat "$TMP/software.txt"); seeded by SQL (python3 sqlite3, server stopped), not through the agent" \
    "endpoint, whose path is measured elsewhere: $SOFTWARE_DISTINCT distinct (name, version, publisher), $SOFTWARE_PER_ASSET per asset" \
    "(4 among the 100 rows of 20 common packages such as openssl, the rest from the long tail)."
  echo "- Data directory after seeding: $DB_MB MiB. Planner statistics once the server restarted: $STATS."
  echo
  echo "Raw SQL (the same statements the SQLite store sends, without authentication, JSON/HTML or HTTP):"
  echo
  cat "$TMP/sql.md"
} > "$OUT"
echo
cat "$OUT"
echo
echo "written to ${OUT#"$ROOT"/}"
