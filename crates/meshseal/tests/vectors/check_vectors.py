#!/usr/bin/env python3
"""Independent check of the frozen vectors against docs/wire-format.md.

Written from the spec, not from the Rust code, over a different implementation of AES-CCM and
HKDF (pyca/cryptography): derives the key and common IV, parses every frame, rebuilds the
sequence number, builds the nonce, decrypts, and re-encrypts; for the header-privacy vectors it
derives the privacy key and unmasks each header first. The Group OSCORE vectors (derived by
aiocoap) are recomputed from RFC 8613 §3.2.1 with a hand-written CBOR `info`, and the ECDH
secret from the Ed25519 keys converted to X25519 by hand (RFC 7748 §4.1 birational map).
Exits non-zero on any mismatch.
"""

import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
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
    ext, time, repeat = 0, None, None
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
            assert ext != 0 and ext & 0x06 != 0x06, "extension"
            if ext & 0x80:
                frag = frame[at]
                assert frag >> 4 <= frag & 0x0F, "fragment index"
                at += 1
            if ext & 0x08:
                time = int.from_bytes(frame[at : at + 2], "big")
                at += 2
            if ext & 0x01:
                repeat = frame[at : at + 2]
                assert repeat[0] >= 1, "repeat copies"
                at += 2
    return dict(repeat=repeat, time=time, header=h, ext=ext, epoch_bits=epoch_bits, sender=sender, bits=bits, value=value, frag=frag, body=frame[at:-8], tag=frame[-8:])


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


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def frame_nonce(iv: bytes, f: dict, epoch: int, sender: int, seq: int) -> bytes:
    pad = bytes([f["header"], f["ext"]]) + epoch.to_bytes(2, "big") + sender.to_bytes(4, "big") + seq.to_bytes(5, "big")
    return xor(pad, iv)


def check_source() -> int:
    """Pairwise frames, a signed frame (its AEAD layer) and a rekey message (spec 1.2)."""
    data = json.loads(Path(__file__).with_name("source-v1.json").read_text())
    secret, gid, epoch = bytes.fromhex(data["master_secret"]), data["group_id"], data["epoch"]
    checked = 0
    # Pairwise: HKDF over master secret || X25519 shared secret, info naming both ids.
    members = {m["id"]: X25519PrivateKey.from_private_bytes(bytes.fromhex(m["x25519_secret"])) for m in data["pairwise"]["members"]}
    for m in data["pairwise"]["members"]:
        assert members[m["id"]].public_key().public_bytes_raw().hex() == m["x25519_public"]
    for v in data["pairwise"]["frames"]:
        s, r = v["sender"], v["receiver"]
        shared = members[r].exchange(X25519PublicKey.from_public_bytes(members[s].public_key().public_bytes_raw()))
        lo, hi = min(s, r), max(s, r)
        def info(label, length):
            return b"meshseal/v1" + bytes([label]) + gid.to_bytes(4, "big") + epoch.to_bytes(2, "big") + lo.to_bytes(4, "big") + hi.to_bytes(4, "big") + bytes([length])
        def kdf(label, length):
            return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info(label, length)).derive(secret + shared)
        key, iv = kdf(5, 16), kdf(6, 13)
        frame = bytes.fromhex(v["frame"])
        f = parse(frame, False)
        assert f["ext"] == 0x04 and f["sender"] == s
        seq = reconstruct(v["reference"] + 1, f["bits"], f["value"])
        assert seq == v["seq"]
        plain = AESCCM(key, tag_length=8).decrypt(frame_nonce(iv, f, epoch, s, seq), f["body"] + f["tag"], bytes([f["ext"]]))
        assert plain.hex() == v["payload"]
        checked += 1
    # Signed: group-sealed, the plaintext ends with a 64-byte Ed25519ph signature. pyca/cryptography
    # offers pure Ed25519 only, so the signature itself is checked by the Rust tests.
    v = data["signed"]
    key, iv = hkdf(secret, b"", 1, gid, epoch, 16), hkdf(secret, b"", 2, gid, epoch, 13)
    frame = bytes.fromhex(v["frame"])
    f = parse(frame, False)
    assert f["ext"] == 0x02
    seq = reconstruct(v["reference"] + 1, f["bits"], f["value"])
    plain = AESCCM(key, tag_length=8).decrypt(frame_nonce(iv, f, epoch, v["sender"], seq), f["body"] + f["tag"], bytes([f["ext"]]))
    assert plain[:-64].hex() == v["payload"] and len(plain) == len(v["payload"]) // 2 + 64
    checked += 1
    # Repeated frame: timestamp and repeat announcement (copies, window) as associated data.
    v = data["repeat"]
    frame = bytes.fromhex(v["frame"])
    f = parse(frame, False)
    assert f["ext"] == 0x09 and f["time"] == v["time"] and f["repeat"] == bytes([v["copies"], v["window"]])
    seq = reconstruct(v["reference"] + 1, f["bits"], f["value"])
    aad = bytes([f["ext"]]) + f["time"].to_bytes(2, "big") + f["repeat"]
    plain = AESCCM(key, tag_length=8).decrypt(frame_nonce(iv, f, epoch, v["sender"], seq), f["body"] + f["tag"], aad)
    assert plain.hex() == v["payload"]
    checked += 1
    # Rekey message: key and IV from the member secret, nonce from type, epoch, member, counter.
    v = data["rekey"]
    msg = bytes.fromhex(v["message"])
    assert msg[0] == 0x81
    member, at = varint(msg, 1)
    assert member == v["member"]
    ep = int.from_bytes(msg[at : at + 2], "big")
    counter = int.from_bytes(msg[at + 2 : at + 7], "big")
    header = msg[: at + 7]
    assert (ep, counter) == (v["epoch"], v["counter"])
    def minfo(label, length):
        return b"meshseal/v1" + bytes([label]) + gid.to_bytes(4, "big") + member.to_bytes(4, "big") + bytes([length])
    msecret = bytes.fromhex(v["member_secret"])
    mkey = HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=minfo(3, 16)).derive(msecret)
    miv = HKDF(algorithm=hashes.SHA256(), length=13, salt=None, info=minfo(4, 13)).derive(msecret)
    nonce = xor(bytes([0x81, 0]) + ep.to_bytes(2, "big") + member.to_bytes(4, "big") + counter.to_bytes(5, "big"), miv)
    plain = AESCCM(mkey, tag_length=8).decrypt(nonce, msg[len(header):], header)
    grace = int.from_bytes(plain[:4], "big")
    n = plain[4]
    new_secret = plain[5 : 5 + n]
    salt_len = plain[5 + n]
    at = 6 + n + salt_len
    count = plain[at]
    removed = [int.from_bytes(plain[at + 1 + 4 * i : at + 5 + 4 * i], "big") for i in range(count)]
    assert len(plain) == at + 1 + 4 * count
    assert (grace, new_secret.hex(), removed) == (v["grace"], v["new_master_secret"], v["removed"])
    checked += 1
    return checked


def unmask(frame: bytes, privacy_key: bytes, implicit: bool) -> bytes:
    """Header privacy (spec section 20): the frame with its header unmasked."""
    enc = Cipher(algorithms.AES(privacy_key), modes.ECB()).encryptor()
    mask = enc.update(frame[-8:] + bytes(8)) + enc.finalize()
    out = bytearray(frame)
    span = min(16, len(frame) - 8)
    out[0] ^= mask[0] & 0x1F  # version and epoch bits stay in clear
    for i in range(1, span):
        out[i] ^= mask[i]
    hlen = len(frame) - 8 - len(parse(bytes(out), implicit)["body"])
    assert hlen <= 16, "a private header fits one mask block"
    for i in range(hlen, span):  # only the header was masked
        out[i] ^= mask[i]
    return bytes(out)


def check_group(g: dict) -> int:
    secret, salt = bytes.fromhex(g["master_secret"]), bytes.fromhex(g["salt"])
    key = hkdf(secret, salt, 1, g["group_id"], g["epoch"], 16)
    iv = hkdf(secret, salt, 2, g["group_id"], g["epoch"], 13)
    assert key.hex() == g["key"], "key"
    assert iv.hex() == g["common_iv"], "iv"
    privacy_key = None
    if "privacy_key" in g:
        privacy_key = hkdf(secret, salt, 7, g["group_id"], g["epoch"], 16)
        assert privacy_key.hex() == g["privacy_key"], "privacy key"
    ccm = AESCCM(key, tag_length=8)
    checked = 0
    for v in g["frames"]:
        frame = bytes.fromhex(v["frame"])
        if privacy_key is not None:
            frame = unmask(frame, privacy_key, v["implicit_sender"])
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
            if f["repeat"] is not None:
                r = v["repeat"]
                assert f["repeat"] == bytes([r["copies"], r["window"]]), v["name"]
                aad += f["repeat"]
        plain = ccm.decrypt(nonce, f["body"] + f["tag"], aad or None)
        assert plain.hex() == v["payload"], v["name"]
        assert ccm.encrypt(nonce, plain, aad or None) == frame[len(frame) - len(plain) - 8 :], v["name"]
        checked += 1
    return checked


def cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    if n < 256:
        return bytes([major << 5 | 24, n])
    return bytes([major << 5 | 25]) + n.to_bytes(2, "big")


def oscore_info(ident: bytes, id_context: bytes, kind: str, length: int) -> bytes:
    """[id, id_context, alg_aead (10, AES-CCM-16-64-128), type, L] in CBOR (RFC 8613 §3.2.1)."""
    return (cbor_head(4, 5) + cbor_head(2, len(ident)) + ident + cbor_head(2, len(id_context))
            + id_context + bytes([10]) + cbor_head(3, len(kind)) + kind.encode() + cbor_head(0, length))


def oscore_hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


P25519 = 2**255 - 19


def x25519_from_ed25519(seed: bytes, public: bytes):
    """The X25519 private scalar (SHA-512 of the seed, low half) and the Montgomery u of the
    Edwards public key, u = (1 + y) / (1 - y)."""
    scalar = hashlib.sha512(seed).digest()[:32]
    y = int.from_bytes(public, "little") & ((1 << 255) - 1)
    u = (1 + y) * pow(1 - y, P25519 - 2, P25519) % P25519
    return scalar, u.to_bytes(32, "little")


def check_group_oscore() -> int:
    v = json.loads((Path(__file__).parent / "group-oscore-v1.json").read_text())
    secret, salt, gid = (bytes.fromhex(v[k]) for k in ("master_secret", "master_salt", "gid"))
    assert oscore_hkdf(salt, secret, oscore_info(b"", gid, "IV", 13), 13).hex() == v["common_iv"]
    sekey = oscore_hkdf(salt, secret, oscore_info(b"", gid, "SEKey", 16), 16)
    assert sekey.hex() == v["signature_encryption_key"]
    members = {}
    for m in v["members"]:
        sid = bytes.fromhex(m["sender_id"])
        key = oscore_hkdf(salt, secret, oscore_info(sid, gid, "Key", 16), 16)
        assert key.hex() == m["sender_key"], m
        members[m["sender_id"]] = (sid, key, m)
    checked = 0
    for p in v["pairwise"]:
        own_id, own_key, own = members[p["own"]]
        peer_id, peer_key, peer = members[p["peer"]]
        scalar, _ = x25519_from_ed25519(bytes.fromhex(own["ed25519_seed"]), bytes.fromhex(own["ed25519_public"]))
        _, peer_u = x25519_from_ed25519(b"", bytes.fromhex(peer["ed25519_public"]))
        shared = X25519PrivateKey.from_private_bytes(scalar).exchange(X25519PublicKey.from_public_bytes(peer_u))
        assert shared.hex() == p["shared_secret"], p
        own_cred, peer_cred = bytes.fromhex(own["credential"]), bytes.fromhex(peer["credential"])
        sender = oscore_hkdf(own_key, own_cred + peer_cred + shared, oscore_info(own_id, gid, "Key", 16), 16)
        recipient = oscore_hkdf(peer_key, peer_cred + own_cred + shared, oscore_info(peer_id, gid, "Key", 16), 16)
        assert (sender.hex(), recipient.hex()) == (p["sender_key"], p["recipient_key"]), p
        checked += 1
    checked += check_group_request(v, sekey, members)
    return checked


def cbor_bstr(b: bytes) -> bytes:
    return cbor_head(2, len(b)) + b


def check_group_request(v: dict, sekey: bytes, members: dict) -> int:
    """The group-mode request aiocoap protected: external AAD, decryption, keystream and
    countersignature, all rebuilt here."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    r = v["group_request"]
    gid = bytes.fromhex(v["gid"])
    kid, piv, option = (bytes.fromhex(r[k]) for k in ("sender_id", "partial_iv", "oscore_option"))
    _, key, m = members[r["sender_id"]]
    # [1, [10, 10, -8, -27], kid, piv, h'', gid, option, cred, null]
    ext = (cbor_head(4, 9) + b"\x01" + cbor_head(4, 4) + b"\x0a\x0a\x27\x38\x1a" + cbor_bstr(kid)
           + cbor_bstr(piv) + cbor_bstr(b"") + cbor_bstr(gid) + cbor_bstr(option)
           + cbor_bstr(bytes.fromhex(m["credential"])) + b"\xf6")
    assert ext.hex() == r["external_aad"], "external AAD"
    aad = cbor_head(4, 3) + cbor_head(3, 8) + b"Encrypt0" + cbor_bstr(b"") + cbor_bstr(ext)
    iv = bytes.fromhex(v["common_iv"])
    nonce_in = bytes([len(kid)]) + kid.rjust(7, b"\0") + piv.rjust(5, b"\0")
    nonce = bytes(a ^ b for a, b in zip(nonce_in, iv))
    ciphertext = bytes.fromhex(r["ciphertext"])
    plain = AESCCM(key, tag_length=8).decrypt(nonce, ciphertext, aad)
    assert plain.hex() == r["plaintext"], "group request plaintext"
    info = cbor_head(4, 4) + cbor_bstr(kid) + cbor_bstr(gid) + b"\xf5" + b"\x18\x40"
    keystream = HKDF(algorithm=hashes.SHA256(), length=64, salt=piv, info=info).derive(sekey)
    assert keystream.hex() == r["keystream"], "keystream"
    payload = bytes.fromhex(r["payload"])
    assert payload[:-64] == ciphertext
    signature = bytes(a ^ b for a, b in zip(payload[-64:], keystream))
    tbs = (cbor_head(4, 5) + cbor_head(3, 17) + b"CounterSignature0" + cbor_bstr(b"") + cbor_bstr(b"")
           + cbor_bstr(ext) + cbor_bstr(ciphertext))
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(m["ed25519_public"])).verify(signature, tbs)
    return 1


def main() -> int:
    here = Path(__file__).parent
    compact = sum(check_group(g) for g in json.loads((here / "compact-v1.json").read_text())["groups"])
    private = sum(check_group(g) for g in json.loads((here / "privacy-v1.json").read_text())["groups"])
    source = check_source()
    group = check_group_oscore()
    print(f"check_vectors: {compact} frames, {private} frames with header privacy, {source} pairwise/signed/repeated/rekey messages and {group} Group OSCORE pairs and messages verified independently")
    return 0 if compact >= 15 and private >= 11 and source >= 5 and group >= 7 else 1


if __name__ == "__main__":
    sys.exit(main())
