#!/usr/bin/env bash
# Instructions per delivered frame, counted by callgrind (repeatable, unlike
# timings): two binaries (OLD=..., NEW=...), each with no messages and with
# 50 messages to 100 sessions; the difference over the deliveries is the
# cost of one delivered frame. Usage: OLD=path NEW=path [PROTOCOL=socketio] scripts/callgrind-delivery.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/callgrind; rm -rf $OUT; mkdir -p $OUT
for side in old new; do
  bin="${OLD:?path of the first binary}"; [ $side = new ] && bin="${NEW:?path of the second binary}"
  for rate in 0.01 5; do
    dir=$(mktemp -d)
    APP__SERVER__WORKERS=1 RUST_LOG=warn HOST=127.0.0.1 PORT=8085 DATA_DIR=$dir/data UPLOADS_DIR=$dir/uploads \
      valgrind --tool=callgrind --callgrind-out-file=$OUT/$side-$rate.out $bin > $OUT/$side-$rate.log 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do curl -fs http://127.0.0.1:8085/health >/dev/null && break; sleep 0.2; done
    target/release/loadtest --url 127.0.0.1:8085 --protocol "${PROTOCOL:-plain}" --sessions 100 --connect-rate 50 --senders 1 --send-rate $rate --duration 10 2>/dev/null | grep -E "deliveries / expected|p50" > $OUT/$side-$rate.txt
    # valgrind's child is the server
    kill -TERM $(pgrep -f "callgrind-out-file=$OUT/$side-$rate.out" | head -1); wait $pid 2>/dev/null || true
    echo "$side $rate $(grep -h 'summary:' $OUT/$side-$rate.out) $(cat $OUT/$side-$rate.txt | tr '\n' ' ')"
  done
done
