#!/usr/bin/env bash
# The gateway against a bare receiver, side by side in one run: the same unpaced load
# generator (1000 senders, 16-byte payloads) feeds, in turn, the bare receiver
# (crates/meshseal-gateway/examples/bare_recv.rs: the gateway's own recvmmsg path and nothing
# after it) and the gateway with its redb store (verification, group commit, JSON output to
# /dev/null), ROUNDS times each, interleaved (bare, gateway, bare, gateway, ...) because this
# machine's speed drifts. Prints each run and the ratio of frames taken per second (the
# gateway's delivered frames over the bare receiver's datagrams) and per CPU-second of the
# receiving process (/proc/PID/stat). Usage: scripts/gateway-ratio.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
rounds=${2:-3}
cargo build -q --release -p meshseal-cli
cargo build -q --release -p meshseal-gateway --example bare_recv
bin=target/release/meshseal
bare=target/release/examples/bare_recv
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
$bin group new --members 1000 --out "$dir/g.toml" 2>/dev/null
hz=$(getconf CLK_TCK)

one() { # $1 = bare|gateway, $2 = run number; appends "kind frames cpu_s" to $dir/runs
  local err="$dir/$1-$2.err" pid port
  if [ "$1" = bare ]; then
    "$bare" 127.0.0.1:0 2>"$err" &
  else
    "$bin" gateway --group "$dir/g.toml" --bind 127.0.0.1:0 --store "$dir/replay-$2.redb" \
      --provision --out /dev/null --log warn ${GATEWAY_ARGS:-} 2>"$err" &
  fi
  pid=$!
  for _ in $(seq 200); do grep -q listening "$err" 2>/dev/null && break; sleep 0.05; done
  port=$(grep -o '"bind":"[^"]*"' "$err" | sed 's/.*:\([0-9]*\)"/\1/')
  "$bin" loadgen --group "$dir/g.toml" --target "127.0.0.1:$port" --senders 1000 --rate 0 \
    --duration "${secs}s" >/dev/null 2>&1
  sleep 0.3
  local ticks
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -TERM "$pid"; wait "$pid" || true
  python3 - "$err" "$1" "$ticks" "$hz" "$secs" >>"$dir/runs" <<'PY'
import json, sys
err, kind, ticks, hz, secs = sys.argv[1:]
last = [json.loads(l) for l in open(err) if l.startswith("{") and '"received"' in l][-1]
frames = last["received"] if kind == "bare" else last["accepted"]
print(kind, frames, int(ticks) / int(hz), secs)
PY
}

for r in $(seq "$rounds"); do
  one bare "$r"
  one gateway "$r"
done
python3 - "$dir/runs" <<'PY'
import sys
runs = [l.split() for l in open(sys.argv[1])]
tot = {"bare": [0, 0.0, 0.0], "gateway": [0, 0.0, 0.0]}
print(f"{'run':<10} {'frames':>10} {'per s':>10} {'CPU s':>7} {'per CPU-s':>10}")
for kind, frames, cpu, secs in runs:
    frames, cpu, secs = int(frames), float(cpu), float(secs)
    t = tot[kind]; t[0] += frames; t[1] += cpu; t[2] += secs
    print(f"{kind:<10} {frames:>10} {frames / secs:>10,.0f} {cpu:>7.2f} {frames / max(cpu, 1e-9):>10,.0f}")
b, g = tot["bare"], tot["gateway"]
print(f"gateway / bare receiver, frames per second:     {(g[0] / g[2]) / (b[0] / b[2]):.3f}")
print(f"gateway / bare receiver, frames per CPU-second: {(g[0] / g[1]) / (b[0] / b[1]):.3f}")
print(f"gateway verified frames per CPU-second: {g[0] / g[1]:,.0f}")
PY
