#!/usr/bin/env bash
# Fetches Debian's source of wolfSSL (trixie: 5.7) into $WOLFSSL_WORK/src (default
# /tmp/meshseal-wolfssl) with a private apt state, so the system's sources are untouched, and
# builds a static library with DTLS 1.3, PSK and AES-CCM (Debian's own package has no DTLS 1.3).
# -Wno-error: GCC 12 false positives in wolfSSL's own code.
# Sourced by bench/wolfssl/build.sh; sets `work`, `version` and `prefix`.
work=${WOLFSSL_WORK:-/tmp/meshseal-wolfssl}
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/debian-source.sh"
debian_source wolfssl trixie "$work"
prefix=$work/install
if [ ! -f "$prefix/lib/libwolfssl.a" ]; then
    cmake -S "$work/src" -B "$work/build" -DCMAKE_INSTALL_PREFIX="$prefix" \
        -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=no -DWOLFSSL_EXAMPLES=no \
        -DWOLFSSL_CRYPT_TESTS=no -DWOLFSSL_TLS13=yes -DWOLFSSL_DTLS=yes -DWOLFSSL_DTLS13=yes \
        -DWOLFSSL_PSK=yes -DWOLFSSL_AESCCM=yes \
        -DCMAKE_C_FLAGS="-Wno-error=stringop-overflow -Wno-error=array-bounds" >/dev/null
    cmake --build "$work/build" -j"$(nproc)" >/dev/null
    cmake --install "$work/build" >/dev/null
fi
