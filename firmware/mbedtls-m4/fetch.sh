#!/usr/bin/env bash
# Fetches Debian's source of Mbed TLS 2.28 (bookworm) into $MBEDTLS_WORK/src (default
# /tmp/meshseal-mbedtls), with a private apt state so the system's sources are untouched.
# Sourced by the firmware build scripts; sets `work` and `version`.
work=${MBEDTLS_WORK:-/tmp/meshseal-mbedtls}
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/debian-source.sh"
debian_source mbedtls bookworm "$work"
