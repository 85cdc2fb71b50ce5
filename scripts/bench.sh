#!/usr/bin/env bash
# Reproduces docs/BENCHMARKS.md: builds release binaries, then for each
# scenario starts a fresh server (embedded store, temporary data dir) on
# 127.0.0.1:8080 and measures it with the load tool and wrk.
#   scripts/bench.sh [OUTPUT_DIR]        (default target/bench)
# SERVER=path/to/ecommerce measures that binary instead (no build): how
# two builds are compared side by side.
# Needs wrk for the REST figure (apt-get install wrk). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/bench}"
mkdir -p "$OUT"
if [ -z "${SERVER:-}" ]; then
  cargo build --release --bins
fi
SERVER="${SERVER:-target/release/ecommerce}"
LOADTEST="${LOADTEST:-target/release/loadtest}"
ADMIN=(--admin-email bench@example.com --admin-password bench-password)
PID=""

start_server() {
  stop_server
  local dir; dir="$(mktemp -d)"
  RUST_LOG=warn HOST=127.0.0.1 PORT=8080 DATA_DIR="$dir/data" UPLOADS_DIR="$dir/uploads" \
    ADMIN_EMAIL=bench@example.com ADMIN_PASSWORD=bench-password \
    "$SERVER" >"$OUT/server-$1.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 50); do curl -fs http://127.0.0.1:8080/health >/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; exit 1
}

stop_server() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi
}
trap stop_server EXIT

run() {
  local name="$1"; shift
  start_server "$name"
  echo "== $name: loadtest $*" | tee "$OUT/$name.txt"
  "$LOADTEST" --server-pid "$PID" --json "$@" 2>"$OUT/$name.progress" | tee -a "$OUT/$name.txt"
}

run chat-1k --sessions 1000 --senders 10 --send-rate 10 --duration 10
run chat-10k-single-broadcasts --sessions 10000 --connect-rate 2000 --senders 2 --send-rate 1 --duration 20
run chat-10k-socketio --protocol socketio --sessions 10000 --connect-rate 2000 --senders 2 --send-rate 1 --duration 20
run chat-10k-throughput --sessions 10000 --connect-rate 2000 --senders 20 --send-rate 20 --duration 10
run products-10k --scenario products --sessions 10000 --connect-rate 2000 --send-rate 1 --duration 20 "${ADMIN[@]}"
run chat-19k-hold --sessions 19000 --source-ips 2 --connect-rate 2000 --senders 2 --send-rate 1 --duration 20 --hold "${HOLD_SECONDS:-180}"

if command -v wrk >/dev/null; then
  start_server wrk
  cookie=$(curl -s -c - -o /dev/null -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench-password"}' http://127.0.0.1:8080/api/sessions/login | awk '/ecommerce_session/ {print $7}')
  for i in $(seq 1 30); do
    curl -s -o /dev/null -b "ecommerce_session=$cookie" -H 'content-type: application/json' \
      -d "{\"title\":\"Item $i\",\"description\":\"d\",\"code\":\"B$i\",\"price\":$i,\"stock\":5,\"category\":\"c\"}" \
      http://127.0.0.1:8080/api/products
  done
  echo "== wrk GET /api/products?limit=10" | tee "$OUT/wrk.txt"
  wrk -t2 -c64 -d15s 'http://127.0.0.1:8080/api/products?limit=10' | tee -a "$OUT/wrk.txt"
fi
echo "results in $OUT"
