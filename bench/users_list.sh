#!/usr/bin/env bash
# Benchmark: authenticated `GET /api/v1/users?limit=50` over 10,000 users, against the ceiling of
# a static file of the same bytes served by the same server process (`/public/users50.json`).
#
# Usage: bench/users_list.sh
# Optional environment: PORT (default 38181), DURATION (default 15s), WARMUP (default 3s, 0 = none),
# THREADS (default 2), CONNECTIONS (default 32), USERS (default 10000).
# Prints a markdown table and writes it to bench/out/users_list.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PORT="${PORT:-38181}"
DURATION="${DURATION:-15s}"
WARMUP="${WARMUP:-3s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
USERS="${USERS:-10000}"
BASE="http://127.0.0.1:${PORT}"
BIN="$ROOT/target/release/pupitre"
OUT_DIR="$ROOT/bench/out"
OUT="$OUT_DIR/users_list.md"
export PUPITRE_ADMIN_PASSWORD="${PUPITRE_ADMIN_PASSWORD:-bench-Admin-Passw0rd!}"

die() { echo "users_list: FAIL: $*" >&2; exit 1; }

for tool in cargo curl wrk awk seq; do
  command -v "$tool" > /dev/null || die "$tool is not installed (apt-get install -y wrk curl)"
done
if curl -s -o /dev/null --max-time 1 "$BASE/"; then
  die "something already listens on 127.0.0.1:$PORT; set PORT to a free port"
fi

echo "== building (cargo build --release -p pupitre)"
cargo build --release -p pupitre

TMP="$(mktemp -d -t pupitre-bench.XXXXXX)"
mkdir -p "$TMP/data" "$TMP/public"
SERVER_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2> /dev/null; then
    kill "$SERVER_PID" 2> /dev/null || true
    wait "$SERVER_PID" 2> /dev/null || true
  fi
  if [[ $rc -ne 0 && -s "$TMP/server.log" ]]; then
    echo "--- last lines of the server log ($TMP/server.log kept) ---" >&2
    tail -n 30 "$TMP/server.log" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT

echo "== starting the server on $BASE (data in $TMP)"
"$BIN" serve --data-dir "$TMP/data" --listen "127.0.0.1:$PORT" --public-dir "$TMP/public" \
  > "$TMP/server.log" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + 30))
until curl -fsS -o /dev/null --max-time 2 "$BASE/readyz" 2> /dev/null; do
  kill -0 "$SERVER_PID" 2> /dev/null || die "the server exited before becoming ready"
  ((SECONDS < deadline)) || die "$BASE/readyz did not answer 200 within 30 s"
  sleep 0.2
done

echo "== creating an API token"
TOKEN="$("$BIN" admin tokens create --data-dir "$TMP/data" --login admin --name bench --expires-days 1 | tail -n 1)"
[[ -n "$TOKEN" ]] || die "pupitre admin tokens create printed no token"
AUTH="Authorization: Bearer $TOKEN"

echo "== importing $USERS users with one CSV"
{
  echo "login,display_name,email"
  seq -w 1 "$USERS" | awk '{ printf "user%s,Bench User %s,user%s@example.com\n", $1, $1, $1 }'
} > "$TMP/users.csv"
t0=$(date +%s%N)
status="$(curl -sS -o "$TMP/import.json" -w '%{http_code}' -X POST \
  -H "$AUTH" -H 'Content-Type: text/csv' --data-binary "@$TMP/users.csv" \
  "$BASE/api/v1/users/import")"
t1=$(date +%s%N)
[[ "$status" == 200 ]] || die "POST /api/v1/users/import answered $status: $(head -c 500 "$TMP/import.json")"
echo "import: HTTP $status in $(((t1 - t0) / 1000000)) ms ($(wc -c < "$TMP/users.csv") bytes of CSV)"

echo "== fetching one page of users"
curl -fsS -H "$AUTH" -o "$TMP/public/users50.json" "$BASE/api/v1/users?limit=50" \
  || die "GET /api/v1/users?limit=50 failed"
BYTES="$(wc -c < "$TMP/public/users50.json")"
echo "users50.json: $BYTES bytes"
curl -fsS -o "$TMP/static.json" "$BASE/public/users50.json" || die "GET /public/users50.json failed"
cmp -s "$TMP/static.json" "$TMP/public/users50.json" \
  || die "/public/users50.json does not serve the same bytes as the file in --public-dir"

# run_wrk NAME PATH: runs wrk (after a warm-up) with the token header, leaves its output in
# $TMP/NAME.wrk and fails on socket errors or non-2xx/3xx answers.
run_wrk() {
  local name=$1 path=$2
  if [[ "$WARMUP" != 0 ]]; then
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -H "$AUTH" "$BASE$path" > /dev/null
  fi
  echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency $path"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$AUTH" "$BASE$path" | tee "$TMP/$name.wrk"
  if grep -q -E 'Non-2xx or 3xx responses|Socket errors' "$TMP/$name.wrk"; then
    die "wrk saw errors on $path (see above)"
  fi
}

# row NAME TARGET: one markdown table row from wrk's output.
row() {
  local file="$TMP/$1.wrk" target=$2 rps p50 p99
  rps="$(awk '/^Requests\/sec:/ { print $2 }' "$file")"
  p50="$(awk '$1 == "50%" { print $2 }' "$file")"
  p99="$(awk '$1 == "99%" { print $2 }' "$file")"
  [[ -n "$rps" && -n "$p50" && -n "$p99" ]] || die "could not parse wrk output in $file"
  echo "| \`$target\` | $BYTES | $rps | $p50 | $p99 |"
}

run_wrk api "/api/v1/users?limit=50"
run_wrk static "/public/users50.json"

mkdir -p "$OUT_DIR"
{
  echo "## users_list: GET /api/v1/users?limit=50 over $USERS users vs a static file of the same bytes"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2> /dev/null || echo unknown)," \
    "$(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up), same machine as the server."
  echo
  echo "| target | bytes | requests/s | p50 | p99 |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  row api "GET /api/v1/users?limit=50"
  row static "GET /public/users50.json"
  api_rps="$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/api.wrk")"
  static_rps="$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/static.wrk")"
  if awk -v a="$api_rps" -v s="$static_rps" 'BEGIN { exit !(s < a) }'; then
    echo
    echo "**Warning:** the static file is slower than the API endpoint, so it is no ceiling here." \
      "A static p50 near 40 ms points at Nagle's algorithm waiting for a delayed ACK:" \
      "the server should set TCP_NODELAY on accepted connections."
  fi
} > "$OUT"
echo
cat "$OUT"
echo
echo "written to ${OUT#"$ROOT"/}"
