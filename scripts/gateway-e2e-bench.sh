#!/usr/bin/env bash
# End-to-end gateway benchmark over loopback UDP: one gateway process, one load generator,
# for the redb store and (if redis-server is installed) the Redis store. Prints the load
# generator's report and the gateway's final counters (delivered frames, p50/p99 latency from
# arrival at the gateway to the message written). For Redis, redis-server's CPU during the run
# is counted too: frames per CPU-second of the gateway and of gateway plus redis-server.
# Usage: scripts/gateway-e2e-bench.sh [SECONDS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rate=${2:-0}
cargo build -q --release -p meshseal-cli
bin=target/release/meshseal
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
$bin group new --members 1000 --out "$dir/g.toml" 2>/dev/null

ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # $1 = store argument, $2 = label, $3 = redis-server's pid (optional)
  $bin gateway --group "$dir/g.toml" --bind 127.0.0.1:0 --store "$1" --provision \
    --out /dev/null --log warn 2>"$dir/$2.err" &
  local gw=$!
  for _ in $(seq 100); do grep -q listening "$dir/$2.err" 2>/dev/null && break; sleep 0.05; done
  local port
  port=$(grep -o '"bind":"[^"]*"' "$dir/$2.err" | sed 's/.*:\([0-9]*\)"/\1/')
  echo "== $2: loadgen 1000 senders, rate ${rate} (0 = unpaced), ${secs} s"
  local store_before=0
  [ -n "${3:-}" ] && store_before=$(ticks_of "$3")
  $bin loadgen --group "$dir/g.toml" --target "127.0.0.1:$port" --senders 1000 \
    --rate "$rate" --duration "$secs"
  sleep 0.5
  # CPU seconds the gateway used (user + system), for frames per CPU-second.
  local ticks hz store_ticks=0
  ticks=$(ticks_of $gw)
  [ -n "${3:-}" ] && store_ticks=$(( $(ticks_of "$3") - store_before ))
  hz=$(getconf CLK_TCK)
  kill -TERM $gw; wait $gw || true
  echo "gateway counters:"; grep '"received"' "$dir/$2.err" | tail -1
  python3 - "$dir/$2.err" "$ticks" "$hz" "$store_ticks" <<'PY'
import json, sys
last = [l for l in open(sys.argv[1]) if '"received"' in l][-1]
s = json.loads(last)
hz = int(sys.argv[3])
cpu = int(sys.argv[2]) / hz
store = int(sys.argv[4]) / hz
print(f"gateway cpu {cpu:.2f} s; received {s['received']}, delivered {s['accepted']}: "
      f"{s['received'] / cpu:,.0f} datagrams and {s['accepted'] / cpu:,.0f} verified frames per CPU-second; "
      f"p50 {s['latency_us']['p50']} us, p99 {s['latency_us']['p99']} us")
if store:
    print(f"redis-server cpu {store:.2f} s; gateway + redis-server: "
          f"{s['accepted'] / (cpu + store):,.0f} verified frames per CPU-second")
PY
}

run "$dir/replay.redb" redb
if command -v redis-server >/dev/null; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >/dev/null &
  redis=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  run "redis://127.0.0.1:$port" redis "$redis"
fi
