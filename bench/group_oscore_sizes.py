#!/usr/bin/env python3
"""Group OSCORE (RFC 10021) overhead measured with aiocoap's SimpleGroupContext: protect CoAP
requests in group mode (signed, to the whole group) and in pairwise mode (to one member), send
them over a UDP socket on loopback to a member that unprotects them and answers in pairwise
mode, and report the bytes of each datagram against the same CoAP message unprotected. The
group: 8-byte Gid (as `meshseal oscore group new` draws it), 1-byte Sender IDs, the profile
meshseal implements (AES-CCM-16-64-128, Ed25519, ECDH-SS + HKDF-256).

Prints one JSON object on stdout; used by `meshseal compare --measure`.
"""
import importlib.metadata
import json
import os
import socket
import sys

from aiocoap import Message, POST, CHANGED

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "interop", "group_oscore"))
from group_context import kccs, public_of  # noqa: E402
from oscore_sizes import frame, plain  # noqa: E402  (bench/, the RFC 8613 measurement)
from aiocoap import oscore  # noqa: E402

SIZES = [int(s) for s in (sys.argv[1:] or ["1", "4", "16", "64", "128"])]


def member(sender, peer, seeds, gid):
    return oscore.SimpleGroupContext(
        alg_aead=oscore.algorithms["AES-CCM-16-64-128"],
        hashfun=oscore.hashfunctions["sha256"],
        alg_signature=oscore.Ed25519(),
        alg_group_enc=oscore.algorithms["AES-CCM-16-64-128"],
        alg_pairwise_key_agreement=oscore.EcdhSsHkdf256(),
        group_id=gid,
        master_secret=bytes(range(16)),
        master_salt=bytes.fromhex("9e7ca92223786340"),
        sender_id=sender,
        private_key=seeds[sender],
        sender_auth_cred=kccs(public_of(seeds[sender])),
        peers={peer: kccs(public_of(seeds[peer]))},
        group_manager_cred=None,
    )


def main():
    gid = bytes.fromhex("37cbf3210017a2d3")
    seeds = {b"\x01": bytes(range(0x40, 0x60)), b"\x02": bytes(range(0x60, 0x80))}
    client = member(b"\x01", b"\x02", seeds, gid)
    server = member(b"\x02", b"\x01", seeds, gid)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rows = []
    mid = 0x1000

    def carry(wire):
        tx.sendto(wire, rx.getsockname())
        got, _ = rx.recvfrom(4096)
        return got

    for size in SIZES:
        payload = bytes(range(size))
        token = b"\x01"
        row = {"payload": size}
        for mode, sender in (("group", client), ("pairwise", client.pairwise_for(b"\x02"))):
            mid += 1
            req = plain(POST, payload, mid, token, ["t"])
            plain_req = req.encode()
            protected, request_id = sender.protect(req)
            got = carry(frame(protected, mid, token).encode())
            received = Message.decode(got)
            ctx = server.get_oscore_context_for(oscore.verify_start(received))
            unprotected, server_request_id = ctx.unprotect(received)
            assert unprotected.payload == payload, f"{mode} request did not round-trip"
            resp = plain(CHANGED, payload, mid, token)
            plain_resp = resp.encode()
            presp, _ = ctx.context_for_response().protect(resp, server_request_id)
            rgot = carry(frame(presp, mid, token).encode())
            rmsg = Message.decode(rgot)
            back, _ = sender.context_from_response(
                oscore.verify_start(rmsg)).unprotect(rmsg, request_id)
            assert back.payload == payload, f"{mode} response did not round-trip"
            row.update({
                "coap_request": len(plain_req),
                f"{mode}_request": len(got),
                f"{mode}_request_overhead": len(got) - len(plain_req),
                "coap_response": len(plain_resp),
                f"response_to_{mode}": len(rgot),
                f"response_to_{mode}_overhead": len(rgot) - len(plain_resp),
            })
        rows.append(row)
    print(json.dumps({
        "tool": "aiocoap SimpleGroupContext",
        "aiocoap": importlib.metadata.version("aiocoap"),
        "algorithm": "AES-CCM-16-64-128, EdDSA Ed25519, ECDH-SS + HKDF-256",
        "sender_id_len": 1,
        "gid_len": len(gid),
        "transport": "UDP loopback, CoAP NON, 1-byte token, Uri-Path 't'; responses in pairwise mode",
        "rows": rows,
    }))


if __name__ == "__main__":
    main()
