"""aiocoap's SimpleGroupContext for a member context file written by `meshseal oscore group new`.

The profile is the one meshseal implements: AES-CCM-16-64-128 for both modes, HKDF SHA-256,
Ed25519 signatures, ECDH-SS + HKDF-256 over the Ed25519 keys; each member's credential is the
CWT Claims Set of its public key, built here as meshseal builds it.
"""

import tomllib

import cbor2
from aiocoap import oscore
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def kccs(public: bytes) -> bytes:
    return cbor2.dumps({8: {1: {1: 1, 3: -8, -1: 6, -2: public}}})


def public_of(seed: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def group_context(path, private_key=None):
    """The member of `path`; `private_key` (32 bytes) replaces its own signing key (an
    impostor claiming its Sender ID)."""
    with open(path, "rb") as f:
        d = tomllib.load(f)
    seed = private_key if private_key is not None else bytes.fromhex(d["private_key"])
    peers = {bytes.fromhex(p["sender_id"]): kccs(bytes.fromhex(p["public_key"]))
             for p in d["peers"]}
    return oscore.SimpleGroupContext(
        alg_aead=oscore.algorithms["AES-CCM-16-64-128"],
        hashfun=oscore.hashfunctions["sha256"],
        alg_signature=oscore.Ed25519(),
        alg_group_enc=oscore.algorithms["AES-CCM-16-64-128"],
        alg_pairwise_key_agreement=oscore.EcdhSsHkdf256(),
        group_id=bytes.fromhex(d["gid"]),
        master_secret=bytes.fromhex(d["master_secret"]),
        master_salt=bytes.fromhex(d.get("master_salt", "")),
        sender_id=bytes.fromhex(d["sender_id"]),
        private_key=seed,
        sender_auth_cred=kccs(public_of(seed)),
        peers=peers,
        group_manager_cred=None,
    )
