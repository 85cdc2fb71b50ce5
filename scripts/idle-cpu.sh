#!/usr/bin/env bash
# Server CPU while holding idle WebSocket sessions (heartbeats only):
# starts a release server with the given heartbeat settings, opens SESSIONS
# idle chat sessions with the load tool, and measures the server's CPU time
# over a 50 s window once they are all connected.
#   scripts/idle-cpu.sh HEARTBEAT_MS CLIENT_TIMEOUT_MS [SESSIONS]
# e.g. scripts/idle-cpu.sh 5000 10000 19000; scripts/idle-cpu.sh 25000 45000 19000
set -euo pipefail
cd "$(dirname "$0")/.."
HEARTBEAT="$1"; TIMEOUT="$2"; SESSIONS="${3:-19000}"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --bins
DATA="$(mktemp -d)"
RUST_LOG=warn HOST=127.0.0.1 PORT=8092 DATA_DIR="$DATA/data" UPLOADS_DIR="$DATA/uploads" \
  APP__WEBSOCKET__HEARTBEAT_INTERVAL_MS="$HEARTBEAT" APP__WEBSOCKET__CLIENT_TIMEOUT_MS="$TIMEOUT" \
  target/release/ecommerce >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fs http://127.0.0.1:8092/health >/dev/null && break; sleep 0.1; done
target/release/loadtest --server 127.0.0.1:8092 --sessions "$SESSIONS" --source-ips 2 --connect-rate 2000 \
  --senders 0 --duration 75 >/dev/null 2>&1 &
LOAD=$!
sleep 20   # all connected and joined (2,000/s) and the join storm settled
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
START=$(ticks); sleep 50; END=$(ticks)
HZ=$(getconf CLK_TCK)
FDS=$(ls "/proc/$PID/fd" | wc -l)
wait "$LOAD" || true
python3 -c "
busy = ($END - $START) / $HZ
print(f'heartbeat {$HEARTBEAT} ms, timeout {$TIMEOUT} ms, {$SESSIONS} sessions ({$FDS} fds):'
      f' server CPU {busy:.2f} s in 50 s = {100 * busy / 50:.1f}% of one core')
"
