#!/usr/bin/env bash
# Footprint of the meshseal core on a Cortex-M4 (thumbv7em-none-eabihf), reproducible:
# builds the small firmware binaries of firmware/qemu-m4/src/bin at opt-level "z" (profile
# release) and "s" (profile release-s), both with fat LTO and one codegen unit, and reports
#   flash  = .text + .rodata (+ .data load image), from the ELF section sizes;
#   static = .data + .bss;
#   setup  = peak stack of building the contexts (by value, on the stack) and using them once,
#            measured under QEMU (stack painted, high-water mark read back);
#   ctx    = size of the contexts (sender, recipient, a shared key schedule), wherever a
#            device keeps them (.bss, a static, the stack);
#   op     = peak stack of one seal and/or open with the contexts in place;
#   RAM    = .data + .bss + ctx + op: what a device needs in steady state;
#   insns  = instructions executed per seal/open of a 16-byte payload, measured under QEMU
#            with -icount (SysTick calibrated against a loop of known length), mean of 64.
# "core" columns subtract fp_empty (runtime, painting and reporting code, no meshseal).
# Needs: rustup target thumbv7em-none-eabihf, qemu-system-arm, and llvm-size or
# arm-none-eabi-size.
set -euo pipefail
cd "$(dirname "$0")/../firmware/qemu-m4"

SIZE=$(command -v arm-none-eabi-size || command -v llvm-size || command -v rust-size || true)
[ -n "$SIZE" ] || { echo "footprint: no size tool (arm-none-eabi-size or llvm-size)" >&2; exit 1; }
BINS="fp_empty fp_ccm fp_seal fp_open fp_both fp_both_hkdf fp_plain fp_plain_hkdf fp_private"

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
declare -A core_flash core_ram seal_insns open_insns
echo "| opt | binary | flash B | core flash B | .data+.bss B | setup stack B | contexts B | op stack B | RAM B | core RAM B | seal insns | open insns |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
# measure OPT DIR SUFFIX BIN...: one table row per binary of DIR (the first one, fp_empty, is
# the baseline the "core" columns subtract), keyed OPT:NAME in the arrays below.
measure() {
    local opt=$1 dir=$2 suffix=$3; shift 3
    local base_flash=0 base_ram=0 bin elf text rodata data bss flash line stack ctx op seal open ram key
    for bin in "$@"; do
        elf=$dir/$bin
        text=$(section "$elf" .text) rodata=$(section "$elf" .rodata)
        data=$(section "$elf" .data) bss=$(section "$elf" .bss)
        flash=$((text + rodata + data))
        line=$(run "$elf") || { echo "footprint: $bin failed under QEMU: $line" >&2; exit 1; }
        stack=$(field stack "$line") ctx=$(field contexts "$line") op=$(field op_stack "$line")
        seal=$(field seal_insns "$line") open=$(field open_insns "$line")
        ram=$((data + bss + ctx + op))
        if [ "$bin" = fp_empty ]; then base_flash=$flash base_ram=$ram; fi
        key="$opt:${bin#fp_}$suffix"
        core_flash[$key]=$((flash - base_flash)) core_ram[$key]=$((ram - base_ram))
        seal_insns[$key]=$seal open_insns[$key]=$open
        printf '| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %s | %s |\n' "$opt" "${bin#fp_}$suffix" \
            "$flash" $((flash - base_flash)) $((data + bss)) "$stack" "$ctx" "$op" "$ram" \
            $((ram - base_ram)) \
            "$([ "$seal" = 0 ] && echo - || echo "$seal")" "$([ "$open" = 0 ] && echo - || echo "$open")"
    done
}
# The minimal device build (rows *_min): the core without the features a small device can
# leave out (stats, repeats) and the aes crate's compact software AES (`--cfg aes_compact`:
# smaller code, more instructions). Its own target directory, so the full builds keep theirs.
MIN_FLAGS="--cfg aes_compact $(sed -n 's/^rustflags = \[\(.*\)\]$/\1/p' .cargo/config.toml | tr -d '",')"
for profile in release release-s; do
    opt=$([ "$profile" = release ] && echo z || echo s)
    cargo build -q --profile "$profile" --bins
    # shellcheck disable=SC2086
    measure "$opt" "target/thumbv7em-none-eabihf/$profile" "" $BINS
    RUSTFLAGS="$MIN_FLAGS" cargo build -q --profile "$profile" --target-dir target/min \
        --no-default-features --features hkdf --bin fp_empty --bin fp_plain --bin fp_plain_hkdf
    measure "$opt" "target/min/thumbv7em-none-eabihf/$profile" _min fp_empty fp_plain fp_plain_hkdf
done

# Group OSCORE (feature group-oscore, opt-level z): a member protecting group-mode requests and
# verifying them (on-device HKDF, AES-CCM, an Ed25519 countersignature each). Built on its own
# so the binaries above keep their feature set; no budget, reported beside them.
cargo build -q --release --features group-oscore --bin fp_group_oscore
elf=target/thumbv7em-none-eabihf/release/fp_group_oscore
flash=$(( $(section "$elf" .text) + $(section "$elf" .rodata) + $(section "$elf" .data) ))
line=$(run "$elf") || { echo "footprint: fp_group_oscore failed under QEMU: $line" >&2; exit 1; }
echo
empty=target/thumbv7em-none-eabihf/release/fp_empty
base=$(( $(section "$empty" .text) + $(section "$empty" .rodata) + $(section "$empty" .data) ))
echo "group-oscore (z): flash=$flash core_flash=$((flash - base)) setup_stack=$(field stack "$line") contexts=$(field contexts "$line") op_stack=$(field op_stack "$line") protect_insns=$(field seal_insns "$line") verify_insns=$(field open_insns "$line")"

# The design's budgets (docs/design.md), with 4 peers. The flash and RAM budgets hold for the
# minimal device build at opt-level s (rows s *_min; for this build s comes out smaller than
# z, and faster; docs/footprint.md says what it leaves out); the full builds are reported
# beside them. A budget that is met is enforced; one that is not yet met is reported with its
# gap. Every configuration is also held to a ceiling (its figure when last recorded in
# docs/footprint.md plus a small margin), so a change that grows the firmware fails here
# instead of drifting.
peer=$(sed -n 's/.* peer=\([0-9]*\).*/\1/p' <<<"$sizes")
failed=0
budget() { # label, measured, limit, enforce (yes/no)
    local state
    if [ "$2" -le "$3" ]; then state="met"
    elif [ "$4" = yes ]; then state="OVER (enforced)"; failed=1
    else state="over by $(($2 - $3)) (not met yet)"; fi
    printf '%-78s %7d / %7d  %s\n' "$1" "$2" "$3" "$state"
}
echo
echo "Budgets (measured / limit):"
budget "flash, seal+open, keys on device, minimal build (s plain_hkdf_min), B" "${core_flash[s:plain_hkdf_min]}" 12288 yes
budget "flash, seal+open, keys from host, minimal build (s plain_min), B" "${core_flash[s:plain_min]}" 9216 yes
budget "RAM, seal+open, 4 peers, minimal build (s plain_min), B" "${core_ram[s:plain_min]}" $((1536 + 4 * 24)) yes
budget "RAM, seal+open, 4 peers, minimal build, keys on device (s plain_hkdf_min), B" "${core_ram[s:plain_hkdf_min]}" $((1536 + 4 * 24)) yes
budget "replay state per peer, B" "$peer" 24 yes
ccm=$((seal_insns[z:ccm] + open_insns[z:ccm]))
both=$((seal_insns[z:both] + open_insns[z:both]))
budget "instructions, seal+open of 16 B (both), x1000 of raw CCM" $((both * 1000 / ccm)) 1150 yes
echo
echo "Beside the budgets (not enforced: the minimal build at s meets them):"
budget "flash, seal+open, keys from host, minimal build at z (z plain_min), B" "${core_flash[z:plain_min]}" 9216 no
budget "flash, seal+open, keys on device (plain_hkdf), B" "${core_flash[z:plain_hkdf]}" 12288 no
budget "flash, seal+open, keys on device (both_hkdf), B" "${core_flash[z:both_hkdf]}" 12288 no
budget "flash, seal+open, keys from host (plain), B" "${core_flash[z:plain]}" 9216 no
budget "flash, seal+open, keys from host (both), B" "${core_flash[z:both]}" 9216 no
budget "RAM, seal+open, 4 peers (plain, one key schedule), B" "${core_ram[z:plain]}" $((1536 + 4 * 24)) no
budget "RAM, seal+open, 4 peers (both), B" "${core_ram[z:both]}" $((1536 + 4 * 24)) no
echo
echo "Ceilings (recorded figure + 256 B flash, + 64 B RAM):"
while read -r key flash ram; do
    budget "core flash, $key, B" "${core_flash[$key]}" $((flash + 256)) yes
    budget "core RAM, $key, B" "${core_ram[$key]}" $((ram + 64)) yes
done <<'CEILINGS'
z:seal 6764 1080
z:open 12464 1824
z:both 12004 2304
z:both_hkdf 14272 2304
z:plain 10704 1840
z:plain_hkdf 12936 1840
z:private 11776 2244
z:plain_min 9188 1448
z:plain_hkdf_min 11412 1448
s:plain_min 8804 1580
s:plain_hkdf_min 11160 1580
CEILINGS
exit "$failed"
