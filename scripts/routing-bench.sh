#!/usr/bin/env bash
# Topic routing, counted: two instances over one redis-server, the chat load
# (1,000 sessions, 10 senders, 10 msg/s, 10 s) on instance A only, and the
# CPU time instance B spends meanwhile with no session at all. B used to
# read every chat message; now it reads the chat stream only while it has
# chat sessions. Fresh servers and a fresh Redis each run; OLD and NEW
# alternate ROUNDS times. Figures in docs/BENCHMARKS.md ("Topic routing").
#   OLD=path/to/old/ecommerce NEW=target/release/ecommerce ROUNDS=2 scripts/routing-bench.sh
# Needs redis-server (apt-get install redis-server). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
OLD="${OLD:?OLD=the build to compare with}"
NEW="${NEW:-target/release/ecommerce}"
ROUNDS="${ROUNDS:-2}"
export SESSION_KEY="routing-bench-session-key-routing-bench-session-key-routing-key-x"
export REDIS_URL=redis://127.0.0.1:6391
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap cleanup EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # binary label
  local dir a b a0 b0 a1 b1 hz summary
  dir="$(mktemp -d)"
  redis-server --port 6391 --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
  PIDS+=($!)
  until redis-cli -p 6391 ping >/dev/null 2>&1; do sleep 0.1; done
  RUST_LOG=warn HOST=127.0.0.1 PORT=8081 DATA_DIR="$dir/data" UPLOADS_DIR="$dir/up" "$1" >"$dir/a.log" 2>&1 &
  a=$!; PIDS+=($a)
  RUST_LOG=warn HOST=127.0.0.1 PORT=8082 DATA_DIR="$dir/data" UPLOADS_DIR="$dir/up" "$1" >"$dir/b.log" 2>&1 &
  b=$!; PIDS+=($b)
  for port in 8081 8082; do
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  done
  sleep 1
  a0=$(ticks "$a"); b0=$(ticks "$b")
  summary=$(target/release/loadtest --url 127.0.0.1:8081 --server-pid "$a" --sessions 1000 --senders 10 \
    --send-rate 10 --duration 10 2>/dev/null | grep -E "deliveries /|fan-out" | tr -s ' ' | tr '\n' ' ')
  a1=$(ticks "$a"); b1=$(ticks "$b")
  hz=$(getconf CLK_TCK)
  echo "$2: $summary| A (all sessions) CPU $(( (a1 - a0) * 1000 / hz )) ms, B (no session) CPU $(( (b1 - b0) * 1000 / hz )) ms"
  cleanup
}

for _ in $(seq 1 "$ROUNDS"); do
  run "$OLD" "old"
  run "$NEW" "new"
done
