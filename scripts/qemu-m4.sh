#!/usr/bin/env bash
# Builds the Cortex-M4 firmware (firmware/qemu-m4) and runs it under QEMU (mps2-an386): the
# frozen vectors and a seal/open round trip. Exit status 0 only if the firmware reported PASS
# and exited with success through semihosting.
# Needs: rustup target thumbv7em-none-eabihf, qemu-system-arm (Debian package).
set -euo pipefail
cd "$(dirname "$0")/../firmware/qemu-m4"

cargo build -q --release --bin meshseal-qemu-m4
elf=target/thumbv7em-none-eabihf/release/meshseal-qemu-m4
status=0
out=$(timeout 120 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none \
    -serial none -semihosting-config enable=on,target=native -icount shift=0 \
    -kernel "$elf") || status=$?
echo "$out"
if [ "$status" -ne 0 ] || ! grep -qx PASS <<<"$out"; then
    echo "qemu-m4: FAILED (exit status $status)" >&2
    exit 1
fi
# The per-receiver state sizes `meshseal compare --receivers` uses are recorded in
# bench/results/session-ram-m4.json: they must be this build's.
recorded=../../bench/results/session-ram-m4.json
for pair in "sender=meshseal_sender" "endpoint=oscore_endpoint"; do
    field=${pair%%=*} key=${pair#*=}
    now=$(sed -n "s/^sizes.* $field=\([0-9]*\).*/\1/p" <<<"$out" | head -1)
    was=$(sed -n "s/.*\"$key\": *\([0-9]*\).*/\1/p" "$recorded")
    if [ -z "$now" ] || [ "$now" != "$was" ]; then
        echo "qemu-m4: $key is ${now:-missing} B in this build, $recorded records $was B" >&2
        exit 1
    fi
done
echo "qemu-m4: ok"
