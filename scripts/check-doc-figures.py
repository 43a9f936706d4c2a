#!/usr/bin/env python3
"""Holds the measured tables of docs/footprint.md to what the build scripts print now, so a
document cannot keep figures of an older build. CI runs it on the output of each script.

  check-doc-figures.py footprint OUTPUT   scripts/footprint.sh: every row of the core table
  check-doc-figures.py c-m4 OUTPUT        firmware/c-m4/build.sh (default features): flash
  check-doc-figures.py psa-m4 OUTPUT      firmware/psa-m4/build.sh: meshseal's marginal flash
                                          and its parts

A figure agrees when it is within 3 % (flash, RAM, stack) or 5 % (instructions) of the
measurement: a toolchain update moves figures a little, a stale table by more. Exit 1 lists
every figure that does not agree.
"""
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "footprint.md"


def number(cell):
    """'35 343 B' -> 35343, '-' -> None."""
    digits = re.sub(r"[^0-9]", "", cell.split("(")[0])
    return int(digits) if digits else None


def agrees(doc, now, tolerance):
    if doc is None or now is None:
        return doc == now
    return abs(doc - now) <= tolerance * max(abs(now), 1)


def near(doc, now, tolerance):
    """`agrees`, or within 16 B: small figures (a stack, a part of a few hundred bytes) move by a
    word or two with a toolchain."""
    return agrees(doc, now, tolerance) or abs((doc or 0) - (now or 0)) <= 16


def core_rows(text):
    """Rows '| z | both | ...' of the core table, keyed by (opt, binary)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 12 and cells[0] in ("z", "s"):
            rows[(cells[0], cells[1])] = cells[2:]
    return rows


COLUMNS = ["flash", "core flash", ".data+.bss", "setup stack", "contexts", "op stack", "RAM",
           "core RAM", "seal insns", "open insns"]


def footprint(output):
    doc, now = core_rows(DOC.read_text()), core_rows(output)
    if not now:
        return ["no core table in the footprint output"]
    wrong = []
    for key, cells in now.items():
        if key not in doc:
            wrong.append(f"{key}: measured, not in docs/footprint.md")
            continue
        for name, d, n in zip(COLUMNS, doc[key], cells):
            tol = 0.05 if "insns" in name else 0.03
            if not near(number(d), number(n), tol):
                wrong.append(f"{key} {name}: docs {d}, measured {n}")
    return wrong


def doc_cell(row_start, column):
    for line in DOC.read_text().splitlines():
        if line.startswith(row_start):
            return number(line.strip().strip("|").split("|")[column])
    raise SystemExit(f"no row starting {row_start!r} in {DOC}")


def field(output, prefix, name):
    for line in output.splitlines():
        if line.startswith(prefix):
            m = re.search(rf"\b{name}=(\d+)", line)
            if m:
                return int(m.group(1))
    raise SystemExit(f"no {name}= on a line starting {prefix!r}")


def c_m4(output):
    now = field(output, "c-m4:", "flash")
    doc = doc_cell("| firmware flash (C code", 1)
    return [] if agrees(doc, now, 0.03) else [f"C API firmware flash: docs {doc} B, measured {now} B"]


# The rows of the PSA table that give the marginal's parts (column 2, the size build), and the
# field of the `psa-m4 parts:` line each one reports.
PSA_PARTS = [
    ("| of which meshseal: the library", "meshseal"),
    ("| · code only the open call", "open"),
    ("| · code only the seal call", "seal"),
    ("| · code only set-up", "setup"),
    ("| · code more than one reaches", "shared"),
    ("| of which the rest", "rest"),
]


def psa_m4(output):
    wrong = []
    now = field(output, "psa-m4 marginal:", "flash")
    doc = doc_cell("| flash (.text + .rodata + .data)", 3)
    if not agrees(doc, now, 0.03):
        wrong.append(f"PSA marginal flash: docs {doc} B, measured {now} B")
    for row, name in PSA_PARTS:
        now, doc = field(output, "psa-m4 parts:", name), doc_cell(row, 2)
        if not near(doc, now, 0.03):
            wrong.append(f"PSA marginal, {name}: docs {doc} B, measured {now} B")
    if field(output, "psa-m4 parts:", "unreached"):
        wrong.append("PSA marginal: library code no call reaches (parts.py cannot attribute it)")
    return wrong


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("footprint", "c-m4", "psa-m4"):
        print(__doc__, file=sys.stderr)
        return 2
    output = Path(sys.argv[2]).read_text()
    wrong = {"footprint": footprint, "c-m4": c_m4, "psa-m4": psa_m4}[sys.argv[1]](output)
    for w in wrong:
        print(f"docs/footprint.md is stale: {w}", file=sys.stderr)
    if not wrong:
        print(f"docs/footprint.md agrees with {sys.argv[1]}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
