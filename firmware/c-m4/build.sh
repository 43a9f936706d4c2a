#!/usr/bin/env bash
# Builds the C API for thumbv7em-none-eabihf (opt-level s, fat LTO), links it into the C
# firmware of main.c with Debian's arm-none-eabi-gcc (-Os, --gc-sections), both through CMake
# (firmware/c-m4/CMakeLists.txt, cmake/meshseal.cmake), and runs it under
# QEMU (mps2-an386). MESHSEAL_FFI_FEATURES overrides the library's cargo feature flags
# (default: `--features panic-halt` over the default features).
# Prints the firmware's flash, the share of it taken by the library, and the run's report;
# then runs the source-authentication vectors (source_vectors.c, library with pairwise and
# signed) under QEMU.
# Needs: gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
cd "$root"
out=$root/target/c-m4
mkdir -p "$out"
# Through meshseal's CMake entry point (cmake/meshseal.cmake) with the Arm toolchain file; the
# library is built for size (opt-level s, fat LTO: see CMakeLists.txt). MESHSEAL_FFI_FEATURES
# ("--no-default-features --features a,b" as for cargo) replaces the library's features.
flags=${MESHSEAL_FFI_FEATURES:---features panic-halt}
features=$(sed -n 's/.*--features[ =]\([^ ]*\).*/\1/p' <<<"$flags" | tr ',' ';')
no_default=OFF
case " $flags " in *" --no-default-features "*) no_default=ON ;; esac
cmake -S "$here" -B "$out/build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/arm-none-eabi.cmake" \
    -DCMAKE_BUILD_TYPE=MinSizeRel -DMESHSEAL_CARGO_TARGET_DIR="$out/cargo" \
    -DMESHSEAL_FFI_FEATURES="$features" -DMESHSEAL_FFI_NO_DEFAULT_FEATURES="$no_default" >/dev/null
cmake --build "$out/build" >/dev/null
cp "$out/build/c-m4.elf" "$out/c-m4.elf"
cp "$out/build/c-m4.map" "$out/c-m4.map"
size() { arm-none-eabi-size -A "$1" | awk -v s="$2" '$1 == s { print $2; f = 1 } END { if (!f) print 0 }'; }
elf=$out/c-m4.elf
flash=$(( $(size "$elf" .text) + $(size "$elf" .rodata) + $(size "$elf" .data) ))
# The library's share: kept input sections (.text/.rodata/.data) that came from the archive.
libshare=$(python3 - "$out/c-m4.map" <<'PY'
import re, sys
total, section = 0, None
discarded = True
for line in open(sys.argv[1]):
    if line.startswith("Linker script and memory map"):
        discarded = False
    if discarded:
        continue
    m = re.match(r"^ (\.(?:text|rodata|data)\S*)(.*)$", line)
    if m:
        section, line = m.group(1), m.group(2)
    m = re.match(r"^\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)", line)
    if m and section and "libmeshseal_ffi.a" in m.group(2):
        total += int(m.group(1), 16)
        section = None
print(total)
PY
)
report=$(timeout 60 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none \
    -serial none -semihosting-config enable=on,target=native -kernel "$elf" 2>&1) || {
    echo "c-m4 failed: $report" >&2
    exit 1
}
echo "c-m4: flash=$flash from_libmeshseal_ffi=$libshare $report"
# The source-authentication vectors through the C API (pairwise and signed library).
source_elf=$out/build/c-m4-source.elf
source_report=$(timeout 60 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic \
    -monitor none -serial none -semihosting-config enable=on,target=native \
    -kernel "$source_elf" 2>&1) || {
    echo "c-m4 source vectors failed: $source_report" >&2
    exit 1
}
grep -qx PASS <<<"$source_report" || { echo "c-m4 source vectors: $source_report" >&2; exit 1; }
echo "c-m4 $(head -1 <<<"$source_report") PASS"
