#!/usr/bin/env bash
# Soak: waves of WebSocket sessions connect, chat and leave for several
# minutes; the server's RSS and open file descriptors are sampled before,
# during and after (every 5 s) into OUT/soak.csv, with a summary at the end.
#   scripts/soak.sh [OUTPUT_DIR] [WAVES] [SESSIONS_PER_WAVE]
# Defaults: target/soak, 8 waves of 10,000 chat sessions (20 s each).
# SKIP_BUILD=1 uses the release binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/soak}"; WAVES="${2:-8}"; SESSIONS="${3:-10000}"
mkdir -p "$OUT"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --bins
DATA="$(mktemp -d)"
RUST_LOG=warn HOST=127.0.0.1 PORT=8090 DATA_DIR="$DATA/data" UPLOADS_DIR="$DATA/uploads" \
  target/release/ecommerce >"$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; kill $SAMPLER 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fs http://127.0.0.1:8090/health >/dev/null && break; sleep 0.1; done

sample() {
  local start; start=$(date +%s)
  echo "seconds,phase,rss_kib,fds"
  while kill -0 "$PID" 2>/dev/null; do
    local rss fds phase
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
    fds=$(ls "/proc/$PID/fd" | wc -l)
    phase=$(cat "$OUT/phase" 2>/dev/null || echo "?")
    echo "$(( $(date +%s) - start )),$phase,$rss,$fds"
    sleep 5
  done
}
echo before > "$OUT/phase"
sample > "$OUT/soak.csv" &
SAMPLER=$!
sleep 10
for wave in $(seq 1 "$WAVES"); do
  echo "wave-$wave" > "$OUT/phase"
  target/release/loadtest --server 127.0.0.1:8090 --sessions "$SESSIONS" --connect-rate 2000 \
    --senders 2 --send-rate 1 --duration 20 --json >"$OUT/wave-$wave.txt" 2>&1
done
echo after > "$OUT/phase"
sleep 75   # two of the server's 30 s memory checks
echo done > "$OUT/phase"
sleep 6
kill "$SAMPLER" 2>/dev/null || true
python3 - "$OUT/soak.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
def pick(phase):
    return [r for r in rows if r["phase"] == phase]
before, after = pick("before"), pick("after")
during = [r for r in rows if r["phase"].startswith("wave")]
mib = lambda r: int(r["rss_kib"]) / 1024
print(f"before: RSS {mib(before[-1]):.1f} MiB, fds {before[-1]['fds']}")
peak = max(during, key=mib)
print(f"peak during the waves: RSS {mib(peak):.1f} MiB, fds {max(int(r['fds']) for r in during)}")
print(f"right after: RSS {mib(after[0]):.1f} MiB, fds {after[0]['fds']}")
print(f"75 s after: RSS {mib(after[-1]):.1f} MiB, fds {after[-1]['fds']}")
PY
