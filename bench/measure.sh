#!/usr/bin/env bash
# Re-measures the baselines of `meshseal compare` on loopback and records them in bench/results/:
# DTLS 1.2 PSK-AES128-CCM8 with Debian's openssl (s_server/s_client) and with Mbed TLS
# (python-mbedtls) through meshseal's counting UDP relay, OSCORE with aiocoap, meshseal frames
# sealed by the core, and the host's HMAC-SHA256 time. Then rebuilds so the binary embeds them.
#
# DTLS 1.3 between wolfSSL peers (bench/wolfssl: Debian's source, built once).
# Needs: openssl, python3 with `pip install 'aiocoap[oscore]' python-mbedtls`, cmake, cc.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q --release -p meshseal-cli -- compare --measure --results bench/results "$@"
cargo build -q --release -p meshseal-cli
cargo run -q --release -p meshseal-cli -- compare --payload 4 --interval 60s \
    --radio ieee802154 --battery cr2032 --receivers 16 --plot bench/results/compare-ieee802154-cr2032.svg
