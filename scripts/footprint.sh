#!/usr/bin/env bash
# Footprint of the meshseal core on a Cortex-M4 (thumbv7em-none-eabihf), reproducible:
# builds the small firmware binaries of firmware/qemu-m4/src/bin at opt-level "z" (profile
# release) and "s" (profile release-s), both with fat LTO and one codegen unit, and reports
#   flash  = .text + .rodata (+ .data load image), from the ELF section sizes;
#   static = .data + .bss;
#   stack  = peak stack measured under QEMU (stack painted, high-water mark read back);
#   insns  = instructions executed per seal/open of a 16-byte payload, measured under QEMU
#            with -icount (SysTick calibrated against a loop of known length), mean of 64.
# "core" columns subtract fp_empty (runtime, painting and reporting code, no meshseal).
# Needs: rustup target thumbv7em-none-eabihf, qemu-system-arm, and llvm-size or
# arm-none-eabi-size.
set -euo pipefail
cd "$(dirname "$0")/../firmware/qemu-m4"

SIZE=$(command -v arm-none-eabi-size || command -v llvm-size || command -v rust-size || true)
[ -n "$SIZE" ] || { echo "footprint: no size tool (arm-none-eabi-size or llvm-size)" >&2; exit 1; }
BINS="fp_empty fp_ccm fp_seal fp_open fp_both fp_both_hkdf"

section() { # ELF, section name -> size in bytes (0 if absent)
    "$SIZE" -A "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}

run() { # ELF -> the firmware's report line; fails if the firmware failed
    timeout 120 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none \
        -serial none -semihosting-config enable=on,target=native -icount shift=0 -kernel "$1"
}

field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }

echo "rustc: $(rustc -V)"
echo "crates: $(grep -A1 -E '^name = "(aes|ccm|hkdf|sha2|cortex-m-rt)"$' Cargo.lock \
    | grep -v -- -- | paste - - | sed 's/name = "\([^"]*\)"\s*version = "\([^"]*\)"/\1 \2/' | paste -sd, -)"
echo "size tool: $("$SIZE" --version | head -1)"
sizes=$(cargo run -q --release --bin meshseal-qemu-m4 | grep '^sizes:')
echo "$sizes"
echo
echo "| opt | binary | flash B | core flash B | .data+.bss B | peak stack B | core RAM B | seal insns | open insns |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for profile in release release-s; do
    opt=$([ "$profile" = release ] && echo z || echo s)
    cargo build -q --profile "$profile" --bins
    dir=target/thumbv7em-none-eabihf/$profile
    base_flash=0 base_ram=0
    for bin in $BINS; do
        elf=$dir/$bin
        text=$(section "$elf" .text) rodata=$(section "$elf" .rodata)
        data=$(section "$elf" .data) bss=$(section "$elf" .bss)
        flash=$((text + rodata + data))
        line=$(run "$elf") || { echo "footprint: $bin failed under QEMU: $line" >&2; exit 1; }
        stack=$(field stack "$line")
        seal=$(field seal_insns "$line") open=$(field open_insns "$line")
        ram=$((data + bss + stack))
        if [ "$bin" = fp_empty ]; then base_flash=$flash base_ram=$ram; fi
        printf '| %s | %s | %d | %d | %d | %d | %d | %s | %s |\n' "$opt" "${bin#fp_}" "$flash" \
            $((flash - base_flash)) $((data + bss)) "$stack" $((ram - base_ram)) \
            "$([ "$seal" = 0 ] && echo - || echo "$seal")" "$([ "$open" = 0 ] && echo - || echo "$open")"
    done
done
