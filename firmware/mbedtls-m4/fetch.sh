#!/usr/bin/env bash
# Fetches Debian's source of Mbed TLS 2.28 (bookworm) into $MBEDTLS_WORK/src (default
# /tmp/meshseal-mbedtls), with a private apt state so the system's sources are untouched.
# Sourced by the firmware build scripts; sets `work` and `version`.
work=${MBEDTLS_WORK:-/tmp/meshseal-mbedtls}
mkdir -p "$work/lists" "$work/sources"
if [ ! -d "$work/src" ]; then
    cat > "$work/sources/deb-src.sources" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt=(apt-get -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/sources"
         -o "Dir::State::Lists=$work/lists")
    (cd "$work" && "${apt[@]}" update -qq && "${apt[@]}" source --download-only mbedtls)
    mkdir "$work/src" && tar xzf "$work"/mbedtls_*.orig.tar.gz -C "$work/src" --strip-components=1
fi
version=$(cd "$work" && ls mbedtls_*.dsc | sed 's/mbedtls_\(.*\)\.dsc/\1/')
