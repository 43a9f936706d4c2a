#!/usr/bin/env python3
"""Independent check of the frozen vectors against docs/wire-format.md.

Written from the spec, not from the Rust code, over a different implementation of AES-CCM and
HKDF (pyca/cryptography): derives the key and common IV, parses every frame, rebuilds the
sequence number, builds the nonce, decrypts, and re-encrypts. Exits non-zero on any mismatch.
"""

import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEQ_MAX = (1 << 40) - 1


def hkdf(secret: bytes, salt: bytes, label: int, group_id: int, epoch: int, length: int) -> bytes:
    info = b"meshseal/v1" + bytes([label]) + group_id.to_bytes(4, "big") + epoch.to_bytes(2, "big") + bytes([length])
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(secret)


def varint(b: bytes, at: int):
    value = 0
    for i in range(5):
        byte = b[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            assert not (i > 0 and byte == 0), "non-canonical varint"
            assert value <= 0xFFFFFFFF
            return value, at + i + 1
    raise ValueError("varint too long")


def parse(frame: bytes, implicit: bool):
    h = frame[0]
    assert h & 0x80 == 0, "version"
    epoch_bits = (h >> 5) & 3
    at = 1
    sender = None
    if not implicit:
        sender, at = varint(frame, at)
    ext, time = 0, None
    if h & 0x10 == 0:
        bits, value, frag = 4, h & 0x0F, None
    else:
        n = h & 0x07
        assert 1 <= n <= 5
        bits, value = 8 * n, int.from_bytes(frame[at : at + n], "big")
        at += n
        frag = None
        if h & 0x08:
            ext = frame[at]
            at += 1
            assert ext != 0 and ext & 0x07 == 0, "extension"
            if ext & 0x80:
                frag = frame[at]
                assert frag >> 4 <= frag & 0x0F, "fragment index"
                at += 1
            if ext & 0x08:
                time = int.from_bytes(frame[at : at + 2], "big")
                at += 2
    return dict(time=time, header=h, ext=ext, epoch_bits=epoch_bits, sender=sender, bits=bits, value=value, frag=frag, body=frame[at:-8], tag=frame[-8:])


def reconstruct(expected: int, bits: int, value: int) -> int:
    if bits >= 40:
        return value
    span, half = 1 << bits, 1 << (bits - 1)
    lo = expected - half + 1
    x = lo + ((value - lo) % span)
    if x < 0:
        x += span
    if x > SEQ_MAX:
        x -= span
    return x


def main() -> int:
    path = Path(__file__).with_name("compact-v1.json")
    data = json.loads(path.read_text())
    checked = 0
    for g in data["groups"]:
        secret, salt = bytes.fromhex(g["master_secret"]), bytes.fromhex(g["salt"])
        key = hkdf(secret, salt, 1, g["group_id"], g["epoch"], 16)
        iv = hkdf(secret, salt, 2, g["group_id"], g["epoch"], 13)
        assert key.hex() == g["key"], "key"
        assert iv.hex() == g["common_iv"], "iv"
        ccm = AESCCM(key, tag_length=8)
        for v in g["frames"]:
            frame = bytes.fromhex(v["frame"])
            f = parse(frame, v["implicit_sender"])
            sender = v["sender"] if v["implicit_sender"] else f["sender"]
            assert sender == v["sender"], v["name"]
            assert f["epoch_bits"] == g["epoch"] % 4, v["name"]
            expected = 0 if v["reference"] is None else v["reference"] + 1
            seq = reconstruct(expected, f["bits"], f["value"])
            assert seq == v["seq"], (v["name"], seq)
            pad = bytes([f["header"], f["ext"]]) + g["epoch"].to_bytes(2, "big") + sender.to_bytes(4, "big") + seq.to_bytes(5, "big")
            nonce = bytes(a ^ b for a, b in zip(pad, iv))
            aad = b""
            if f["ext"]:
                aad = bytes([f["ext"]])
                if f["frag"] is not None:
                    first = seq - (f["frag"] >> 4)
                    aad += first.to_bytes(5, "big") + bytes([f["frag"]])
                if f["ext"] & 0x70:
                    b = v["bound"]
                    aad += b["sender"].to_bytes(4, "big") + b["seq"].to_bytes(5, "big")
                if f["time"] is not None:
                    assert f["time"] == v["time"], v["name"]
                    aad += f["time"].to_bytes(2, "big")
            plain = ccm.decrypt(nonce, f["body"] + f["tag"], aad or None)
            assert plain.hex() == v["payload"], v["name"]
            assert ccm.encrypt(nonce, plain, aad or None) == frame[len(frame) - len(plain) - 8 :], v["name"]
            checked += 1
    print(f"check_vectors: {checked} frames verified independently")
    return 0 if checked >= 15 else 1


if __name__ == "__main__":
    sys.exit(main())
