#!/usr/bin/env bash
# Builds and runs meshseal on PSA Crypto on a Cortex-M4 under QEMU (mps2-an386): the C API for
# thumbv7em-none-eabihf without meshseal's own AES (no default features: every AES operation
# goes through the platform callbacks; opt-level s, fat LTO, as ../c-m4), Mbed TLS 2.28 from
# Debian's source with PSA (config.h), and three firmwares linked alike (arm-none-eabi-gcc -Os,
# --gc-sections): baseline.c (PSA's AES-CCM alone), main.c (meshseal on PSA: the frozen
# vectors, a session, a replay, a tamper, a failing engine) and device.c (baseline.c's job done
# through meshseal by the smallest device), the last two with platform.c (the PSA adapter) and
# aeabi_mem.c (the library's memset helpers on newlib's memset).
# Prints each firmware's flash and static RAM and its run's line, then meshseal's marginal
# flash and RAM (size minus baseline) and the library's part of it by the calls that reach it.
# Exit status non-zero if a build or a check fails.
# Needs: gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm, dpkg-dev (apt-get source).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
out=$root/target/psa-m4
mkdir -p "$out"
# Two libraries: with header privacy (through PSA's ECB) for the vector firmware, and without
# it for the size build (the smallest device: no header privacy, plain frames only).
ffi() { # $1 = features, $2 = target directory
    (cd "$root" &&
     CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=fat \
     CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_PANIC=abort \
     CARGO_TARGET_DIR=$2 \
         cargo build -q -p meshseal-ffi --release --target thumbv7em-none-eabihf \
             --no-default-features --features "$1")
}
ffi panic-halt,header-privacy "$out/cargo"
ffi panic-halt "$out/cargo-min"
lib=$out/cargo/thumbv7em-none-eabihf/release/libmeshseal_ffi.a
minlib=$out/cargo-min/thumbv7em-none-eabihf/release/libmeshseal_ffi.a
python3 "$here/gen_vectors.py" "$root/crates/meshseal/tests/vectors" "$out/vectors.h"

. "$here/../mbedtls-m4/fetch.sh"
CC=arm-none-eabi-gcc
CFLAGS=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -ffunction-sections
        -fdata-sections -std=c11 -Wall -Wextra -I"$here" -I"$here/../mbedtls-m4" -I"$work/src/include" -I"$out"
        -I"$root/crates/meshseal-ffi/include" "-DMBEDTLS_CONFIG_FILE=\"config.h\"")
mkdir -p "$out/obj"
for c in "$work"/src/library/*.c; do
    o=$out/obj/$(basename "$c" .c).o
    [ "$o" -nt "$c" ] && [ "$o" -nt "$here/config.h" ] || "$CC" "${CFLAGS[@]}" -w -c "$c" -o "$o"
done
LDFLAGS=(-nostartfiles -T"$here/../mbedtls-m4/link.ld" -Wl,--gc-sections
         -Wl,--defsym=__aeabi_memcpy=memcpy,--defsym=__aeabi_memcpy4=memcpy,--defsym=__aeabi_memcpy8=memcpy
         -Wl,--wrap=calloc,--wrap=free --specs=nano.specs --specs=nosys.specs)
startup=("$here/../mbedtls-m4/startup.c" "$here/entropy.c")
"$CC" "${CFLAGS[@]}" -Werror "${LDFLAGS[@]}" "$here/baseline.c" "${startup[@]}" "$out"/obj/*.o \
    -o "$out/baseline.elf"
# meshseal's firmwares forward the AEABI memset/memclr helpers the library calls to newlib's
# memset (aeabi_mem.c, as docs/porting.md says) instead of linking the library's own weak ones
# (about 400 B, from Rust's compiler_builtins).
ms=("$here/platform.c" "$here/aeabi_mem.c")
"$CC" "${CFLAGS[@]}" -Werror "${LDFLAGS[@]}" "$here/main.c" "${ms[@]}" "${startup[@]}" \
    "$out"/obj/*.o -lc "$lib" -Wl,-Map="$out/main.map" -o "$out/main.elf"

# The size build: device.c, its contexts at the exact sizes main.elf prints, on the library
# without header privacy.
sizes=$(timeout 120 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none \
    -serial none -semihosting-config enable=on,target=native -kernel "$out/main.elf" 2>&1 || true)
sender_bytes=$(sed -n 's/.* sender_ctx=\([0-9]*\).*/\1/p' <<<"$sizes")
recipient_bytes=$(sed -n 's/.* recipient_ctx=\([0-9]*\).*/\1/p' <<<"$sizes")
[ -n "$sender_bytes" ] && [ -n "$recipient_bytes" ] || { echo "psa-m4 main failed: $sizes" >&2; exit 1; }
"$CC" "${CFLAGS[@]}" -Werror "${LDFLAGS[@]}" -DSENDER_BYTES="$sender_bytes" \
    -DRECIPIENT_BYTES="$recipient_bytes" "$here/device.c" "${ms[@]}" "${startup[@]}" \
    "$out"/obj/*.o -lc "$minlib" -Wl,-Map="$out/size.map" -o "$out/size.elf"

section() { arm-none-eabi-size -A "$1" | awk -v s="$2" '$1 == s { print $2; f = 1 } END { if (!f) print 0 }'; }
declare -A flash ram stack
for fw in baseline main size; do
    elf=$out/$fw.elf
    flash[$fw]=$(( $(section "$elf" .text) + $(section "$elf" .rodata) + $(section "$elf" .ARM.exidx) + $(section "$elf" .data) ))
    ram[$fw]=$(( $(section "$elf" .data) + $(section "$elf" .bss) ))
    line=$(timeout 120 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none \
        -serial none -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf" 2>&1) ||
        { echo "psa-m4 $fw failed: $line" >&2; exit 1; }
    stack[$fw]=$(sed -n 's/.* stack=\([0-9]*\).*/\1/p' <<<"$line")
    echo "psa-m4 $fw: flash=${flash[$fw]} data+bss=${ram[$fw]} $line"
done
# meshseal's marginal cost on a device that has PSA's AES-CCM: the size build minus the baseline.
marginal=$(( flash[size] - flash[baseline] ))
echo "psa-m4 marginal: flash=$marginal data+bss=$(( ram[size] - ram[baseline] )) stack=$(( stack[size] - stack[baseline] ))"
# Where it goes: the library's bytes in the size build by the calls that reach them (parts.py),
# and the rest (the PSA adapter, the calls, the memory helpers).
parts=$(python3 "$here/parts.py" "$out/size.elf" "$out/size.map")
library=$(sed -n 's/.* meshseal=\([0-9]*\).*/\1/p' <<<"$parts")
echo "psa-m4 $parts rest=$(( marginal - library ))"
# The design's budgets for meshseal on a device with PSA's AES-CCM (docs/design.md): the
# protocol layer's RAM (the contexts, per peer 24 B) is enforced; the marginal flash is
# reported with its gap while it is not met.
peers=$(sed -n 's/^#define MESHSEAL_PEERS \([0-9]*\).*/\1/p' "$root/crates/meshseal-ffi/include/meshseal.h")
peer=$(sed -n 's/.* peer=\([0-9]*\).*/\1/p' <<<"$sizes")
contexts=$(( sender_bytes + recipient_bytes ))
ram_limit=$(( 512 + peers * peer ))
echo "psa-m4 budget: protocol RAM (contexts, $peers peers) $contexts / $ram_limit B $([ "$contexts" -le "$ram_limit" ] && echo met || echo OVER)"
echo "psa-m4 budget: marginal flash $marginal / 4096 B $([ "$marginal" -le 4096 ] && echo met || echo "over by $(( marginal - 4096 )) (not met yet)")"
[ "$contexts" -le "$ram_limit" ]
