#!/usr/bin/env bash
# Two instances over one redis-server, then over a Redis Cluster of 3
# masters and 3 replicas (Debian's redis-server, redis-cli --cluster
# create), alternated ROUNDS times in one sitting: the same chat load
# (SESSIONS sessions spread over both instances, 10 senders at 10 msg/s
# each, 10 s), fresh servers and fresh Redis each run. Figures in
# docs/BENCHMARKS.md ("Over a Redis Cluster").
#   ROUNDS=2 SESSIONS=1000 scripts/shards-bench.sh [OUTPUT_DIR]   (default target/shards-bench)
# Needs redis-server (apt-get install redis-server). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/shards-bench}"
ROUNDS="${ROUNDS:-2}"
SESSIONS="${SESSIONS:-1000}"
mkdir -p "$OUT"
cargo build --release --bins
SERVER=target/release/ecommerce
LOADTEST=target/release/loadtest
export SESSION_KEY="shards-bench-session-key-shards-bench-session-key-shards-bench-key"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}
trap cleanup EXIT

redis_single() { # dir -> REDIS_URL
  redis-server --port 6390 --bind 127.0.0.1 --save "" --appendonly no --dir "$1" >"$1/redis.log" 2>&1 &
  PIDS+=($!)
  until redis-cli -p 6390 ping >/dev/null 2>&1; do sleep 0.1; done
  echo "redis://127.0.0.1:6390"
}

redis_cluster() { # dir -> REDIS_URL
  local nodes=()
  for port in 7100 7101 7102 7103 7104 7105; do
    mkdir -p "$1/$port"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$1/$port" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
      >"$1/$port/redis.log" 2>&1 &
    PIDS+=($!)
    nodes+=("127.0.0.1:$port")
  done
  for port in 7100 7101 7102 7103 7104 7105; do
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$1/create.log" 2>&1
  until redis-cli -p 7100 cluster info | grep -q "cluster_state:ok"; do sleep 0.2; done
  sleep 2 # replicas attach
  echo "redis+cluster://127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102"
}

start() { # dir port REDIS_URL
  RUST_LOG=warn HOST=127.0.0.1 PORT="$2" DATA_DIR="$1/data" UPLOADS_DIR="$1/uploads" \
    REDIS_URL="$3" "$SERVER" >"$1/server-$2.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$2/health" | grep -q '"connected"' && return; sleep 0.1; done
  echo "server on $2 did not link to Redis" >&2
  exit 1
}

run() { # kind round
  local dir url a b
  dir="$(mktemp -d)"
  if [ "$1" = single ]; then url="$(redis_single "$dir")"; else url="$(redis_cluster "$dir")"; fi
  start "$dir" 8081 "$url"
  a=${PIDS[-1]}
  start "$dir" 8082 "$url"
  b=${PIDS[-1]}
  echo "== $1, round $2: $SESSIONS sessions over two instances ($url)" | tee "$OUT/$1-$2.txt"
  "$LOADTEST" --url 127.0.0.1:8081 --url 127.0.0.1:8082 --server-pid "$a" --server-pid "$b" \
    --sessions "$SESSIONS" --senders 10 --send-rate 10 --duration 10 --json \
    2>"$OUT/$1-$2.progress" | tee -a "$OUT/$1-$2.txt"
  if [ "$1" = cluster ]; then
    echo "keys per master:" | tee -a "$OUT/$1-$2.txt"
    for port in 7100 7101 7102 7103 7104 7105; do
      echo "  $port $(redis-cli -p "$port" role | head -1) $(redis-cli -p "$port" dbsize)" | tee -a "$OUT/$1-$2.txt"
    done
  fi
  cleanup
  rm -rf "$dir"
  sleep 2
}

for round in $(seq 1 "$ROUNDS"); do
  run single "$round"
  run cluster "$round"
done
