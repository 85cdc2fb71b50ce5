#!/usr/bin/env bash
# The two-instance figures in docs/BENCHMARKS.md: a redis-server and two
# release servers on one data dir (127.0.0.1:8081 and :8082), plus a third
# server without Redis (:8083) for comparison.
#   1. 1,000 chat sessions on the lone server, then 1,000 spread over the
#      two instances: the same fan-out measured without and with Redis.
#   2. 2 x 19,000 = 38,000 chat sessions held over the two instances, and
#      broadcasts reaching all of them. A process may hold at most ~19,900
#      sockets here, so two load-tool processes hold 19,000 each (spread
#      over both instances); the second sends, both measure every delivery.
#   scripts/cluster-bench.sh [OUTPUT_DIR]      (default target/cluster-bench)
# Needs redis-server (apt-get install redis-server). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/cluster-bench}"
mkdir -p "$OUT"
cargo build --release --bins
SERVER=target/release/ecommerce
LOADTEST=target/release/loadtest
REDIS_PORT="${REDIS_PORT:-6390}"
DIR="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$OUT/redis.log" 2>&1 &
PIDS+=($!)
sleep 0.5
export SESSION_KEY="cluster-bench-session-key-cluster-bench-session-key-cluster-bench"

start() { # name port [REDIS_URL]
  RUST_LOG=warn HOST=127.0.0.1 PORT="$2" DATA_DIR="$DIR/${4:-data}" UPLOADS_DIR="$DIR/uploads" \
    REDIS_URL="${3:-}" "$SERVER" >"$OUT/server-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$2/health" >/dev/null && return; sleep 0.1; done
  echo "server $1 did not start" >&2; exit 1
}
start a 8081 "redis://127.0.0.1:$REDIS_PORT"
A=${PIDS[-1]}
start b 8082 "redis://127.0.0.1:$REDIS_PORT"
B=${PIDS[-1]}
start alone 8083 "" alone-data
ALONE=${PIDS[-1]}
curl -s http://127.0.0.1:8082/health; echo

echo "== 1k sessions, one server, no Redis" | tee "$OUT/1k-alone.txt"
"$LOADTEST" --url 127.0.0.1:8083 --server-pid "$ALONE" --sessions 1000 --senders 10 --send-rate 10 \
  --duration 10 --json 2>"$OUT/1k-alone.progress" | tee -a "$OUT/1k-alone.txt"
echo "== 1k sessions over two instances and Redis" | tee "$OUT/1k-cluster.txt"
"$LOADTEST" --url 127.0.0.1:8081 --url 127.0.0.1:8082 --server-pid "$A" --server-pid "$B" \
  --sessions 1000 --senders 10 --send-rate 10 --duration 10 --json 2>"$OUT/1k-cluster.progress" \
  | tee -a "$OUT/1k-cluster.txt"
kill "$ALONE"

# 38,000: the first tool holds 19,000 and listens through the second's
# window; the second connects 19,000 more and sends.
HOLD="${HOLD_SECONDS:-60}"
echo "== 38k: listener (19,000 sessions)" | tee "$OUT/38k-listener.txt"
"$LOADTEST" --url 127.0.0.1:8081 --url 127.0.0.1:8082 --sessions 19000 --source-ips 4 \
  --connect-rate 2000 --senders 0 --send-rate 1 --duration $((HOLD + 60)) --json \
  2>"$OUT/38k-listener.progress" >>"$OUT/38k-listener.txt" &
LISTENER=$!
# Wait until the listener's sessions have joined.
until grep -q "\[ joined\]" "$OUT/38k-listener.progress" 2>/dev/null; do sleep 1; done
echo "== 38k: sender (19,000 more sessions)" | tee "$OUT/38k-sender.txt"
"$LOADTEST" --url 127.0.0.1:8081 --url 127.0.0.1:8082 --server-pid "$A" --server-pid "$B" \
  --sessions 19000 --source-ips 4 --connect-rate 2000 --senders 1 --send-rate 0.5 --duration 20 \
  --hold "$HOLD" --json 2>"$OUT/38k-sender.progress" | tee -a "$OUT/38k-sender.txt"
wait "$LISTENER" || true
cat "$OUT/38k-listener.txt"
echo "results in $OUT"
