#!/usr/bin/env python3
"""Writes group-oscore-v1.json: Group OSCORE key material for fixed inputs, derived by aiocoap's
SimpleGroupContext (the implementation meshseal interoperates with), so the frozen values are
the reference's, not meshseal's. Group mode AES-CCM-16-64-128 (group encryption algorithm and
pairwise AEAD), HKDF SHA-256, Ed25519 signatures, pairwise key agreement ECDH-SS + HKDF-256
over the members' Ed25519 keys as X25519, credentials as CWT Claims Sets (KCCS).

Run once; the vector file is frozen (check_vectors.py and crates/meshseal/tests/group_oscore.rs
check it). Usage: gen_group_oscore.py OUT.json   (needs aiocoap[oscore])
"""
import json
import sys

import cbor2
from aiocoap import oscore
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def kccs(public: bytes) -> bytes:
    # CWT Claims Set with a cnf claim (8) holding a COSE_Key (1): OKP (1: 1), EdDSA (3: -8),
    # Ed25519 (-1: 6), x (-2).
    return cbor2.dumps({8: {1: {1: 1, 3: -8, -1: 6, -2: public}}})


def public_of(seed: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


from aiocoap import NON as NON_TYPE  # noqa: E402


def framed(outer):
    """The outer message as sent (NON, message id 0x1234, token 4a01: the transport's fields,
    which OSCORE does not protect)."""
    from aiocoap import NON
    outer.mtype, outer.mid, outer.token = NON, 0x1234, b"\x4a\x01"
    return outer.encode()


def main():
    master_secret = bytes(range(16))
    master_salt = bytes.fromhex("9e7ca92223786340")
    gid = bytes.fromhex("37cbf3210017a2d3")
    members = [
        {"id": b"\x25", "seed": bytes(range(0x40, 0x60))},
        {"id": b"\x52", "seed": bytes(range(0x60, 0x80))},
        {"id": b"", "seed": bytes(range(0x80, 0xa0))},
    ]
    for m in members:
        m["public"] = public_of(m["seed"])
        m["cred"] = kccs(m["public"])
    contexts = {}
    for m in members:
        peers = {p["id"]: p["cred"] for p in members if p is not m}
        contexts[m["id"]] = oscore.SimpleGroupContext(
            alg_aead=oscore.algorithms["AES-CCM-16-64-128"],
            hashfun=oscore.hashfunctions["sha256"],
            alg_signature=oscore.Ed25519(),
            alg_group_enc=oscore.algorithms["AES-CCM-16-64-128"],
            alg_pairwise_key_agreement=oscore.EcdhSsHkdf256(),
            group_id=gid,
            master_secret=master_secret,
            master_salt=master_salt,
            sender_id=m["id"],
            private_key=m["seed"],
            sender_auth_cred=m["cred"],
            peers=peers,
            group_manager_cred=None,
        )
    first = contexts[members[0]["id"]]
    out = {
        "description": "Group OSCORE (RFC 10021) context for fixed inputs, as aiocoap's SimpleGroupContext derives it: group encryption and pairwise AEAD AES-CCM-16-64-128 (10), HKDF SHA-256, EdDSA/Ed25519 signatures, ECDH-SS over the Ed25519 keys as X25519; credentials are CWT Claims Sets (KCCS)",
        "generator": "crates/meshseal/tests/vectors/gen_group_oscore.py (aiocoap 0.4.17)",
        "master_secret": master_secret.hex(),
        "master_salt": master_salt.hex(),
        "gid": gid.hex(),
        "common_iv": first.common_iv.hex(),
        "signature_encryption_key": first.signature_encryption_key.hex(),
        "members": [],
        "pairwise": [],
    }
    for m in members:
        c = contexts[m["id"]]
        out["members"].append({
            "sender_id": m["id"].hex(),
            "ed25519_seed": m["seed"].hex(),
            "ed25519_public": m["public"].hex(),
            "credential": m["cred"].hex(),
            "sender_key": c._sender_key.hex(),
        })
        assert c.common_iv == first.common_iv
        assert c.signature_encryption_key == first.signature_encryption_key
    for a in members:
        for b in members:
            if a is b:
                continue
            pw = contexts[a["id"]].pairwise_for(b["id"])
            shared = oscore.EcdhSsHkdf256().staticstatic(a["seed"], b["public"])
            out["pairwise"].append({
                "own": a["id"].hex(),
                "peer": b["id"].hex(),
                "shared_secret": shared.hex(),
                "sender_key": pw.sender_key.hex(),
                "recipient_key": pw.recipient_key.hex(),
            })
    # One group-mode request from the first member (sequence number 20): POST /lamp, payload 01.
    from aiocoap import POST, Message
    a = contexts[members[0]["id"]]
    a.sender_sequence_number = 20
    msg = Message(code=POST, uri_path=["lamp"], payload=b"\x01")
    msg.direction = oscore.Direction.OUTGOING
    _, plaintext = a._split_message(msg, None)
    outer, rid = a.protect(msg)
    external_aad = a._extract_external_aad(outer, rid, local_is_sender=True)
    ciphertext, encrypted_signature = outer.payload[:-64], outer.payload[-64:]
    piv = rid.partial_iv
    keystream = a._kdf_for_keystreams(a.sender_id, piv, a.signature_encryption_key, a.sender_id, True)
    signature = bytes(x ^ y for x, y in zip(encrypted_signature, keystream))
    out["group_request"] = {
        "sender_id": a.sender_id.hex(),
        "partial_iv": piv.hex(),
        "code": int(outer.code),
        "plaintext": plaintext.hex(),
        "oscore_option": outer.opt.oscore.hex(),
        "external_aad": external_aad.hex(),
        "ciphertext": ciphertext.hex(),
        "keystream": keystream.hex(),
        "signature": signature.hex(),
        "payload": outer.payload.hex(),
        "message": framed(outer).hex(),
    }
    # The second member's answer, as aiocoap's server sends it: a pairwise-mode 2.04 with
    # payload 01, reusing the request's nonce under its pairwise key.
    from aiocoap import CHANGED
    b = contexts[members[1]["id"]]
    incoming = Message.decode(framed(outer))
    incoming.direction = oscore.Direction.INCOMING
    _, _, unprotected, _ = b._extract_encrypted0(incoming)
    aspect = b.get_oscore_context_for(unprotected)
    _, request_id = aspect.unprotect(incoming)
    response = Message(code=CHANGED, payload=b"\x01")
    response.direction = oscore.Direction.OUTGOING
    protected, _ = aspect.context_for_response().protect(response, request_id)
    protected.mtype, protected.mid, protected.token = NON_TYPE, 0x5678, b"\x4a\x01"
    out["pairwise_response"] = {
        "sender_id": b.sender_id.hex(),
        "oscore_option": protected.opt.oscore.hex(),
        "message": protected.encode().hex(),
    }
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


main()
