#!/usr/bin/env bash
# The chaos run of docs/BENCHMARKS.md: two instances over one redis-server,
# thousands of chat sessions whose connections drop at random and resume
# from their offsets, numbered messages from senders, and Redis paused
# (SIGSTOP) twice for 3 s meanwhile. The load tool counts, per session and
# sender, what was lost, duplicated or reordered, and fails if any was.
#   scripts/chaos.sh [OUTPUT_DIR]    (default target/chaos)
# SESSIONS, SECONDS_OF_SENDING, DROP_EVERY override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/chaos}"
mkdir -p "$OUT"
SESSIONS="${SESSIONS:-2000}"
SENDING="${SECONDS_OF_SENDING:-40}"
DROP_EVERY="${DROP_EVERY:-5}"
cargo build --release --bins
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port)
DATA="$(mktemp -d)"
PIDS=()
cleanup() {
  kill -CONT "${REDIS_PID:-0}" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  kill "${REDIS_PID:-0}" 2>/dev/null || true
}
trap cleanup EXIT
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
sleep 0.5
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT" SESSION_KEY="$(head -c 48 /dev/urandom | base64 -w0)"
export RUST_LOG=warn DATA_DIR="$DATA/data" UPLOADS_DIR="$DATA/uploads" HOST=127.0.0.1
# Own events wait for Redis longer than a pause (one order everywhere).
export APP__REDIS__LOCAL_DELIVERY_AFTER_MS=10000
URLS=()
for port in 18091 18092; do
  PORT=$port target/release/ecommerce >"$OUT/server-$port.log" 2>&1 &
  PIDS+=($!)
  URLS+=(--url "127.0.0.1:$port")
done
for port in 18091 18092; do
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
done
target/release/loadtest "${URLS[@]}" --scenario chaos --sessions "$SESSIONS" --senders 4 --send-rate 20 \
  --duration "$SENDING" --drop-every "$DROP_EVERY" --connect-rate 1000 --json \
  >"$OUT/report.txt" 2>"$OUT/progress.txt" &
LOAD=$!
# Wait until sending starts, then pause Redis twice.
until grep -q "receivers joined" "$OUT/progress.txt" 2>/dev/null; do sleep 0.5; done
for at in 10 25; do
  sleep $((at - ${last:-0})); last=$at
  echo "pausing Redis for 3 s ($(date +%T))" | tee -a "$OUT/pauses.txt"
  kill -STOP "$REDIS_PID"; sleep 3; kill -CONT "$REDIS_PID"
  last=$((last + 3))
done
status=0
wait "$LOAD" || status=$?
cat "$OUT/report.txt"
exit "$status"
