#!/usr/bin/env bash
# This server next to the servers people pick instead (../shared/peers:
# socketioxide and socket.io 4.8), one fresh process each, the same load
# from the load tool over Socket.IO's WebSocket transport (and, for this
# server, over plain /ws/chat too), 25 s heartbeats everywhere.
#   scripts/peers-bench.sh [OUTPUT_DIR]      (default target/peers-bench)
# SESSIONS (10000) overrides the session count; ROUNDS, LOADS and SERVERS
# repeat and pick (see the end); OURS_BIN runs another build of this server.
# Prints one line per run:
# light (1 msg/s), heavy (20 msg/s offered), and bursts of 1,000 and
# 10,000 connects at once (handshake p99 is the connect + upgrade time).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/peers-bench}"
mkdir -p "$OUT"
PEERS=../shared/peers
SESSIONS="${SESSIONS:-10000}"
cargo build --release --bins
CARGO_TARGET_DIR=target/peers/sioxide cargo build --release --manifest-path "$PEERS/socketioxide-chat/Cargo.toml"
if [ ! -d target/peers/node/node_modules ]; then
  rm -rf target/peers/node
  cp -r "$PEERS/socketio-node-chat" target/peers/node
  (cd target/peers/node && npm ci --no-audit --no-fund --silent)
fi
PID=""
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi; }
trap stop EXIT

start() { # name port
  local name=$1 port=$2 dir
  dir="$(mktemp -d)"
  case "$name" in
    ours) APP__WEBSOCKET__HEARTBEAT_INTERVAL_MS=25000 APP__WEBSOCKET__CLIENT_TIMEOUT_MS=45000 RUST_LOG=warn \
            HOST=127.0.0.1 PORT=$port DATA_DIR="$dir/data" UPLOADS_DIR="$dir/uploads" exec "${OURS_BIN:-target/release/ecommerce}" ;;
    socketioxide) HOST=127.0.0.1 PORT=$port exec target/peers/sioxide/release/sio-rust-peer ;;
    socketio-node) HOST=127.0.0.1 PORT=$port exec node target/peers/node/server.js ;;
  esac >"$OUT/server-$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && return; sleep 0.1; done
  echo "$name did not start" >&2; exit 1
}

run() { # server port protocol load args...
  local server=$1 port=$2 protocol=$3 load=$4; shift 4
  start "$server" "$port"
  local name="$server-$protocol-$load-$(date +%s)"
  nstat -n >/dev/null 2>&1 || true   # SYN drops of this run only (see the end of the line)
  target/release/loadtest --url "127.0.0.1:$port" --protocol "$protocol" --server-pid "$PID" --json "$@" \
    >"$OUT/$name.txt" 2>"$OUT/$name.progress" || true
  local dropped
  dropped=$(nstat -z TcpExtListenOverflows TcpExtListenDrops 2>/dev/null | awk 'NR>1 {sum += $2} END {print sum + 0}')
  stop
  SYN_DROPS="$dropped" python3 - "$OUT/$name.txt" "$server $protocol $load" <<'PY'
import json, os, sys
text = open(sys.argv[1]).read()
try:
    r = json.loads(text[text.index("\n{") + 1:])
except ValueError:
    print(f"{sys.argv[2]}: no report"); sys.exit()
lat = r["latency_ms"] or [0, 0, 0]
hs = r.get("handshake_ms") or [0, 0, 0]
rss = (r["server_rss_connected_kib"] - r["server_rss_before_kib"]) / max(r["sessions_held"], 1) if r["server_rss_connected_kib"] else 0
cpu = (r["server_cpu_ns_per_delivery"] or 0) / 1000
print(f"{sys.argv[2]:38s} held {r['sessions_held']:6d}  connect {r['connect_seconds']:5.1f}s  "
      f"p50/p99/max {lat[0]:7.1f}/{lat[1]:7.1f}/{lat[2]:7.1f} ms  deliveries/s {r['deliveries_per_second']:9.0f} "
      f"({r['deliveries']}/{r['deliveries_expected']})  cpu/frame {cpu:5.1f} us  rss/session {rss:5.1f} KiB  "
      f"handshake p99/max {hs[1]:6.1f}/{hs[2]:6.1f} ms  listen drops {os.environ.get('SYN_DROPS', '?')}")
PY
}

LIGHT=(--sessions "$SESSIONS" --connect-rate 2000 --senders 2 --send-rate 1 --duration 20)
HEAVY=(--sessions "$SESSIONS" --connect-rate 2000 --senders 20 --send-rate 20 --duration 10)
BURST=(--sessions 1000 --connect-rate 100000 --senders 1 --send-rate 1 --duration 2)
BURST10K=(--sessions 10000 --connect-rate 100000 --senders 1 --send-rate 1 --duration 2)
# Each load runs on every server back to back (so a slow minute of the
# machine hits all alike); ROUNDS repeats the whole, LOADS and SERVERS pick.
ROUNDS="${ROUNDS:-1}"
LOADS="${LOADS:-light heavy burst burst10k}"
SERVERS="${SERVERS:-socketio-node socketioxide ours ours-plain}"
for round in $(seq 1 "$ROUNDS"); do
  for load in $LOADS; do
    case $load in
      light) args=("${LIGHT[@]}") ;;
      heavy) args=("${HEAVY[@]}") ;;
      burst) args=("${BURST[@]}") ;;
      burst10k) args=("${BURST10K[@]}") ;;
    esac
    for server in $SERVERS; do
      case $server in
        socketio-node) run socketio-node 8101 socketio "$load" "${args[@]}" ;;
        socketioxide) run socketioxide 8102 socketio "$load" "${args[@]}" ;;
        ours) run ours 8103 socketio "$load" "${args[@]}" ;;
        ours-plain) run ours 8104 plain "$load" "${args[@]}" ;;
      esac
    done
  done
done
