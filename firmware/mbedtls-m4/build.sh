#!/usr/bin/env bash
# Builds and runs the Mbed TLS comparison firmware (see client.c) against Debian's source of
# Mbed TLS 2.28 (apt-get source, fetched into $MBEDTLS_WORK, default /tmp/meshseal-mbedtls),
# with Debian's arm-none-eabi-gcc and newlib at -Os, function sections and --gc-sections.
# Prints flash (.text + .rodata + .data image) and RAM of the client and of the baseline, and
# the client's side of a full session run against a server in the same firmware (loopback.c).
# Needs: gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm, dpkg-dev (apt-get source).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/fetch.sh"
cd "$work"

CC=arm-none-eabi-gcc
CFLAGS=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -ffunction-sections
        -fdata-sections -I"$here" -Isrc/include)
CLIENT=("-DMBEDTLS_CONFIG_FILE=\"config.h\"")
LOOPBACK=("-DMBEDTLS_CONFIG_FILE=\"config-loopback.h\"")
# The library twice: client only (measured for flash), and with the server (loopback run).
mkdir -p obj obj-loopback
for c in src/library/*.c; do
    o=obj/$(basename "$c" .c).o
    [ "$o" -nt "$c" ] && [ "$o" -nt "$here/config.h" ] ||
        "$CC" "${CFLAGS[@]}" "${CLIENT[@]}" -c "$c" -o "$o"
    o=obj-loopback/$(basename "$c" .c).o
    [ "$o" -nt "$c" ] && [ "$o" -nt "$here/config.h" ] ||
        "$CC" "${CFLAGS[@]}" "${LOOPBACK[@]}" -c "$c" -o "$o"
done
LDFLAGS=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -nostartfiles
         -T"$here/link.ld" -Wl,--gc-sections -Wl,--wrap=calloc,--wrap=free --specs=nano.specs
         --specs=nosys.specs)
"$CC" "${CFLAGS[@]}" "${CLIENT[@]}" "${LDFLAGS[@]}" "$here/client.c" "$here/startup.c" obj/*.o -o client.elf
"$CC" "${CFLAGS[@]}" "${LDFLAGS[@]}" "$here/baseline.c" "$here/startup.c" -o baseline.elf
"$CC" "${CFLAGS[@]}" "${LOOPBACK[@]}" "${LDFLAGS[@]}" \
    "$here/loopback.c" "$here/startup.c" obj-loopback/*.o -o loopback.elf

section() { arm-none-eabi-size -A "$1" | awk -v s="$2" '$1 == s { print $2; f = 1 } END { if (!f) print 0 }'; }
echo "mbedtls $version, $($CC --version | head -1)"
for elf in baseline.elf client.elf loopback.elf; do
    text=$(section $elf .text) rodata=$(section $elf .rodata) exidx=$(section $elf .ARM.exidx)
    data=$(section $elf .data) bss=$(section $elf .bss)
    line=$(timeout 60 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none \
        -serial none -semihosting-config enable=on,target=native -icount shift=0 -kernel $elf 2>&1) ||
        { echo "${elf%.elf} failed: $line" >&2; exit 1; }
    echo "${elf%.elf}: flash=$((text + rodata + exidx + data)) data+bss=$((data + bss)) $line"
done
