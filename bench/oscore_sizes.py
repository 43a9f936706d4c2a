#!/usr/bin/env python3
"""OSCORE (RFC 8613) overhead measured with aiocoap: protect CoAP requests and responses with a
real aiocoap security context (AES-CCM-16-64-128, 1-byte sender id), send them over a UDP socket
on loopback to a receiver that unprotects them, and report the bytes of each datagram against the
same CoAP message unprotected.

Prints one JSON object on stdout; used by `meshseal compare --measure`.
"""
import importlib.metadata
import json
import os
import socket
import sys
import tempfile

import aiocoap
from aiocoap import Message, POST, CHANGED
from aiocoap.oscore import FilesystemSecurityContext

SIZES = [int(s) for s in (sys.argv[1:] or ["1", "4", "16", "64", "128"])]
SECRET = "0102030405060708090a0b0c0d0e0f10"
SALT = "9e7ca92223786340"


def context(base, sender, recipient):
    os.makedirs(base)
    with open(os.path.join(base, "settings.json"), "w") as f:
        json.dump({"sender-id_hex": sender, "recipient-id_hex": recipient,
                   "secret_hex": SECRET, "salt_hex": SALT}, f)
    return FilesystemSecurityContext(base)


def frame(m, mid, token):
    """Message-layer fields the transport would fill in (type NON, message id, token)."""
    m.mtype = aiocoap.NON
    m.mid = mid
    m.token = token
    return m


def plain(code, payload, mid, token, uri_path=None):
    m = Message(code=code, payload=payload)
    frame(m, mid, token)
    if uri_path:
        m.opt.uri_path = uri_path
    return m


def main():
    tmp = tempfile.mkdtemp(prefix="oscore-sizes-")
    client = context(os.path.join(tmp, "client"), "01", "00")
    server = context(os.path.join(tmp, "server"), "00", "01")
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rows = []
    mid = 0x1000
    for size in SIZES:
        payload = bytes(range(size))
        token = b"\x01"
        mid += 1
        req = plain(POST, payload, mid, token, ["t"])
        plain_req = req.encode()
        protected, request_id = client.protect(req)
        wire = frame(protected, mid, token).encode()
        tx.sendto(wire, rx.getsockname())
        got, _ = rx.recvfrom(2048)
        received = Message.decode(got)
        unprotected, server_request_id = server.unprotect(received)
        assert unprotected.payload == payload, "request did not round-trip"
        resp = plain(CHANGED, payload, mid, token)
        plain_resp = resp.encode()
        presp, _ = server.protect(resp, server_request_id)
        rwire = frame(presp, mid, token).encode()
        tx.sendto(rwire, rx.getsockname())
        rgot, _ = rx.recvfrom(2048)
        back, _ = client.unprotect(Message.decode(rgot), request_id)
        assert back.payload == payload, "response did not round-trip"
        rows.append({
            "payload": size,
            "coap_request": len(plain_req),
            "oscore_request": len(got),
            "request_overhead": len(got) - len(plain_req),
            "coap_response": len(plain_resp),
            "oscore_response": len(rgot),
            "response_overhead": len(rgot) - len(plain_resp),
            "request_sender_seq": request_id.partial_iv.hex() if request_id.partial_iv else "",
        })
    print(json.dumps({
        "tool": "aiocoap",
        "aiocoap": importlib.metadata.version("aiocoap"),
        "algorithm": "AES-CCM-16-64-128",
        "sender_id_len": 1,
        "transport": "UDP loopback, CoAP NON, 1-byte token, Uri-Path 't'",
        "rows": rows,
    }))


if __name__ == "__main__":
    main()
