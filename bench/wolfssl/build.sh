#!/usr/bin/env bash
# Builds bench/wolfssl/dtls13_psk.c against wolfSSL with DTLS 1.3 (fetch.sh: Debian's source,
# built once into $WOLFSSL_WORK, default /tmp/meshseal-wolfssl) and prints the peer's path.
# `meshseal compare --measure` runs it when this script succeeds.
# Needs: cmake, a C compiler, network access to Debian's source archive (first run only).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/fetch.sh"
out=$work/dtls13_psk
if [ ! "$out" -nt "$here/dtls13_psk.c" ] || [ ! "$out" -nt "$prefix/lib/libwolfssl.a" ]; then
    cc -O2 -Wall -Wextra -I"$prefix/include" "$here/dtls13_psk.c" "$prefix/lib/libwolfssl.a" \
        -lm -lpthread -o "$out"
fi
echo "$out"
