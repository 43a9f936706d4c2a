#!/usr/bin/env python3
"""Where meshseal's marginal flash goes in a linked firmware: the bytes the linker took from
libmeshseal_ffi.a (per its map), split by the C API calls whose code reaches them.

  parts.py FIRMWARE.elf FIRMWARE.map [--list]

Each of the library's functions is attributed by reachability from the firmware's calls into
it: `open` (only the library's open calls reach it), `seal` (only its seal calls), `setup`
(only the set-up calls: init, provision, configuration defaults) or `shared` (more than one
group). A reference is a direct call or branch, a literal-pool word or a movw/movt pair naming
the function (function pointers included). `data` is the library's read-only and initialized
data; `exidx` its unwind index entries (flash too). Prints one line:

  parts: meshseal=N open=N seal=N setup=N shared=N data=N exidx=N unreached=N

with the figures in bytes; meshseal is the sum of the others. `unreached` (code the linker kept
that no call reaches by these rules) should be 0. With --list, each of the library's functions
follows on a line of its own: group, size, name. Needs arm-none-eabi-objdump and -nm.
"""
import re
import subprocess
import sys

LIB = "libmeshseal_ffi.a("
# The sections that occupy flash (.bss, debug information and comments do not).
FLASH = (".text", ".rodata", ".data", ".ARM.exidx")


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def library_sections(map_text):
    """(section, address, size) of every input section the link kept from the library."""
    text = map_text.split("Linker script and memory map", 1)[1]
    out = []
    # An input section: its name, then (on the same line or the next) address, size, origin.
    for m in re.finditer(r"^ (\.\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)", text, re.M):
        name, addr, size, origin = m.group(1), int(m.group(2), 16), int(m.group(3), 16), m.group(4)
        if LIB in origin and size and name.startswith(FLASH):
            out.append((name, addr, size))
    return out


def functions(elf):
    """address -> (name, size) of every function symbol."""
    funcs = {}
    for line in run("arm-none-eabi-nm", "-S", "--defined-only", elf).splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTW":
            addr, size = int(parts[0], 16) & ~1, int(parts[1], 16)
            if size:
                funcs[addr] = (parts[3], size)
    return funcs


def references(elf, funcs):
    """caller address -> set of callee addresses, from the disassembly."""
    starts = set(funcs)
    refs = {}
    current = None
    movw = {}
    for line in run("arm-none-eabi-objdump", "-d", "--no-show-raw-insn", elf).splitlines():
        head = re.match(r"^([0-9a-f]+) <[^>]+>:$", line)
        if head:
            addr = int(head.group(1), 16)
            current = addr if addr in starts else current
            movw = {}
            continue
        m = re.match(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if not m or current is None:
            continue
        op, args = m.group(2), m.group(3)
        targets = []
        # A branch or call: objdump names its target as `ADDRESS <symbol>`.
        branch = re.match(r"([0-9a-f]+) <", args)
        if branch:
            targets.append(int(branch.group(1), 16))
        elif op == ".word":
            t = re.match(r"0x([0-9a-f]+)", args)
            if t:
                targets.append(int(t.group(1), 16) & ~1)
        elif op.startswith("movw"):
            t = re.match(r"(\w+), #(\d+)", args)
            if t:
                movw[t.group(1)] = int(t.group(2))
        elif op.startswith("movt"):
            t = re.match(r"(\w+), #(\d+)", args)
            if t and t.group(1) in movw:
                targets.append(((int(t.group(2)) << 16) | movw[t.group(1)]) & ~1)
        for t in targets:
            if t in starts and t != current:
                refs.setdefault(current, set()).add(t)
    return refs


def group(name):
    if name.startswith("meshseal_open"):
        return "open"
    if name.startswith("meshseal_seal"):
        return "seal"
    return "setup"


def main():
    args = [a for a in sys.argv[1:] if a != "--list"]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    elf, map_path = args
    with open(map_path) as f:
        sections = library_sections(f.read())
    funcs = functions(elf)
    refs = references(elf, funcs)
    lib_code = {a for (s, a, _) in sections if s.startswith(".text")}
    lib_funcs = {a for a in funcs if a in lib_code}
    # The firmware's calls into the library: references from code outside it.
    reached = {}
    for caller, callees in refs.items():
        if caller in lib_funcs:
            continue
        for entry in callees & lib_funcs:
            g = group(funcs[entry][0])
            stack = [entry]
            while stack:
                f = stack.pop()
                if g in reached.setdefault(f, set()):
                    continue
                reached[f].add(g)
                stack.extend(refs.get(f, set()) & lib_funcs)
    totals = dict.fromkeys(["open", "seal", "setup", "shared", "data", "exidx", "unreached"], 0)
    listing = []
    for name, addr, size in sections:
        if name.startswith(".text"):
            groups = reached.get(addr, set())
            key = "unreached" if not groups else min(groups) if len(groups) == 1 else "shared"
            listing.append(f"{key} {size} {funcs.get(addr, (name, 0))[0]}")
        elif name.startswith(".ARM.exidx"):
            key = "exidx"
        else:
            key = "data"
        totals[key] += size
    figures = " ".join(f"{k}={v}" for k, v in totals.items())
    print(f"parts: meshseal={sum(totals.values())} {figures}")
    if "--list" in sys.argv[1:]:
        print("\n".join(sorted(listing)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
