#!/usr/bin/env python3
"""DTLS 1.2 PSK with TLS-PSK-WITH-AES-128-CCM-8 between two Mbed TLS peers (python-mbedtls,
which bundles Mbed TLS): a server on 127.0.0.1:LISTEN and a client that connects to CONNECT
(the meshseal relay, which forwards to the server and counts the datagrams). The client runs
the full handshake (with the server's cookie exchange), sends one record per payload size,
then closes.

Usage: mbedtls_dtls_psk.py LISTEN_PORT CONNECT_PORT SIZE...
Prints one JSON object (versions, what the peers saw) on stdout.
"""
import json
import socket
import sys
import threading
import time
from contextlib import suppress

import mbedtls
from mbedtls import tls

PSK = ("meshseal-client", bytes(range(16)))
CIPHER = "TLS-PSK-WITH-AES-128-CCM-8"
PAUSE = 0.2


def block(fn, *args):
    while True:
        try:
            return fn(*args)
        except (tls.WantReadError, tls.WantWriteError):
            continue


def config(server):
    kw = dict(
        ciphers=[CIPHER],
        lowest_supported_version=tls.DTLSVersion.DTLSv1_2,
        highest_supported_version=tls.DTLSVersion.DTLSv1_2,
        validate_certificates=False,
    )
    if server:
        kw["pre_shared_key_store"] = {PSK[0]: PSK[1]}
    else:
        kw["pre_shared_key"] = PSK
    return tls.DTLSConfiguration(**kw)


def serve(port, expect, received, ready):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    srv = tls.ServerContext(config(True)).wrap_socket(sock)
    ready.set()
    conn, addr = srv.accept()
    conn.setcookieparam(addr[0].encode())
    with suppress(tls.HelloVerifyRequest):
        block(conn.do_handshake)
    conn, addr = conn.accept()
    conn.setcookieparam(addr[0].encode())
    block(conn.do_handshake)
    for _ in range(expect):
        received.append(len(block(conn.recv, 4096)))
    with suppress(Exception):
        block(conn.recv, 4096)  # close_notify
    with suppress(Exception):
        conn.close()


def main():
    listen, connect = int(sys.argv[1]), int(sys.argv[2])
    sizes = [int(s) for s in sys.argv[3:]]
    received, ready = [], threading.Event()
    t = threading.Thread(target=serve, args=(listen, len(sizes), received, ready), daemon=True)
    t.start()
    ready.wait(5)
    cli = tls.ClientContext(config(False)).wrap_socket(
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM), server_hostname=None
    )
    cli.connect(("127.0.0.1", connect))
    block(cli.do_handshake)
    time.sleep(PAUSE)
    for n in sizes:
        block(cli.send, b"x" * n)
        time.sleep(PAUSE)
    with suppress(Exception):
        cli.close()
    t.join(5)
    print(json.dumps({
        "tool": "python-mbedtls",
        "version": "python-mbedtls %s, %s" % (mbedtls.__version__, mbedtls.version.version),
        "cipher": CIPHER,
        "received": received,
    }))
    return 0 if received == sizes else 1


if __name__ == "__main__":
    sys.exit(main())
