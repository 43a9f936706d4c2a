#!/usr/bin/env bash
# Fetches Debian's source of wolfSSL (trixie: 5.7) into $WOLFSSL_WORK/src (default
# /tmp/meshseal-wolfssl) with a private apt state, so the system's sources are untouched, and
# builds a static library with DTLS 1.3, PSK and AES-CCM (Debian's own package has no DTLS 1.3).
# DTLS_CID is on only because wolfSSL 5.5.4's CMake compiles src/dtls.c, which DTLS 1.3 needs,
# with it; the peers never negotiate a connection id. -Wno-error: GCC 12 false positives.
# Sourced by bench/wolfssl/build.sh; sets `work`, `version` and `prefix`.
work=${WOLFSSL_WORK:-/tmp/meshseal-wolfssl}
mkdir -p "$work/lists" "$work/sources"
if [ ! -d "$work/src" ]; then
    cat > "$work/sources/deb-src.sources" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt=(apt-get -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/sources"
         -o "Dir::State::Lists=$work/lists")
    (cd "$work" && "${apt[@]}" update -qq && "${apt[@]}" source --download-only wolfssl)
    mkdir "$work/src" && tar xzf "$work"/wolfssl_*.orig.tar.gz -C "$work/src" --strip-components=1
fi
version=$(cd "$work" && ls wolfssl_*.dsc | sed 's/wolfssl_\(.*\)\.dsc/\1/')
prefix=$work/install
if [ ! -f "$prefix/lib/libwolfssl.a" ]; then
    cmake -S "$work/src" -B "$work/build" -DCMAKE_INSTALL_PREFIX="$prefix" \
        -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=no -DWOLFSSL_EXAMPLES=no \
        -DWOLFSSL_CRYPT_TESTS=no -DWOLFSSL_TLS13=yes -DWOLFSSL_DTLS=yes -DWOLFSSL_DTLS13=yes \
        -DWOLFSSL_PSK=yes -DWOLFSSL_AESCCM=yes -DWOLFSSL_DTLS_CID=yes \
        -DCMAKE_C_FLAGS="-Wno-error=stringop-overflow -Wno-error=array-bounds" >/dev/null
    cmake --build "$work/build" -j"$(nproc)" >/dev/null
    cmake --install "$work/build" >/dev/null
fi
