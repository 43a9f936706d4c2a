#!/usr/bin/env python3
"""OSCORE interop between meshseal and aiocoap on loopback; exits 1 on any mismatch.

    python3 tests/interop/oscore/run.py --meshseal target/debug/meshseal

Part A: aiocoap OSCORE client -> meshseal server.  Part B: meshseal client -> aiocoap OSCORE
server. Each part runs GET/PUT/POST with payloads of 0-512 bytes, replays a captured protected
request from another socket (refused by the server), lets an on-path relay flip one byte of a
request and of a response (refused by the server, resp. the client), and restarts the server
without its replay window (RFC 8613 Appendix B.1.2: the Echo round trip, after which an old
recording is still refused). A relay between client and server records every datagram.
"""

import argparse
import asyncio
import json
import os
import secrets
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

import aiocoap
from aiocoap import Message

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [0, 1, 2, 4, 16, 64, 100, 255, 256, 300, 511, 512]
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Relay(threading.Thread):
    """UDP relay in front of a server: records both directions, can flip a byte once."""

    def __init__(self, upstream_port):
        super().__init__(daemon=True)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.connect(("127.0.0.1", upstream_port))
        self.requests = []
        self.responses = []
        self.tamper_request = False
        self.tamper_response = False
        self.client = None
        self.stopped = False

    @staticmethod
    def flip(data):
        # The last byte is part of the AEAD tag of a protected message.
        return data[:-1] + bytes([data[-1] ^ 0x01])

    def run(self):
        while not self.stopped:
            ready, _, _ = select.select([self.front, self.back], [], [], 0.1)
            for s in ready:
                if s is self.front:
                    data, self.client = self.front.recvfrom(4096)
                    if self.tamper_request:
                        self.tamper_request = False
                        data = self.flip(data)
                    self.requests.append(data)
                    self.back.send(data)
                else:
                    data = self.back.recv(4096)
                    if self.tamper_response and Message.decode(data).opt.oscore is not None:
                        self.tamper_response = False
                        data = self.flip(data)
                    self.responses.append(data)
                    if self.client:
                        self.front.sendto(data, self.client)


def raw_exchange(port, datagram, timeout=5.0):
    """Sends one datagram from a fresh socket (an attacker's) and returns the decoded reply."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(datagram, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
        return Message.decode(data)
    except socket.timeout:
        return None
    finally:
        s.close()


def refused_as(reply, code, diagnostic):
    return (
        reply is not None
        and reply.code == code
        and reply.opt.oscore is None
        and reply.payload == diagnostic
    )


def aiocoap_context(path, secret, salt, sender, recipient, id_context=None):
    os.makedirs(path)
    settings = {"sender-id_hex": sender, "recipient-id_hex": recipient}
    if id_context is not None:
        settings["id-context_hex"] = id_context
    with open(os.path.join(path, "settings.json"), "w") as f:
        json.dump(settings, f)
    with open(os.path.join(path, "secret.json"), "w") as f:
        json.dump({"secret_hex": secret.hex(), "salt_hex": salt.hex()}, f)


def meshseal_context(path, secret, salt, sender, recipient, state, id_context=None):
    lines = [
        f'master_secret = "{secret.hex()}"',
        f'master_salt = "{salt.hex()}"',
        f'sender_id = "{sender}"',
        f'recipient_id = "{recipient}"',
        f'state = "{state}"',
    ]
    if id_context is not None:
        lines.append(f'id_context = "{id_context}"')
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


class MeshsealServer:
    """`meshseal oscore server` (or, with `command`, another server of the CLI printing
    `banner` on stderr once bound; lines before it are notes)."""

    def __init__(self, binary, context, port, command=("oscore", "server"),
                 banner="oscore server on", extra=()):
        self.proc = subprocess.Popen(
            [binary, *command, "--context", context, "--bind", f"127.0.0.1:{port}", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stderr.readline()
        while line and banner not in line:
            line = self.proc.stderr.readline()
        if banner not in line:
            raise RuntimeError(f"meshseal server did not start: {line!r}")
        self.banner = line
        self.log = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.append(json.loads(line))

    def events(self, **match):
        time.sleep(0.1)
        return [e for e in self.log if all(e.get(k) == v for k, v in match.items())]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class AiocoapServer:
    def __init__(self, context, port, script=os.path.join(HERE, "aiocoap_server.py")):
        self.proc = subprocess.Popen(
            [sys.executable, script, "--context", context, "--port", str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"aiocoap server did not start: {line!r}")

    def stop(self):
        # Killed, not shut down: its replay window is then unknown on the next start.
        self.proc.kill()
        self.proc.wait()


async def part_a(binary, tmp):
    print("== A: aiocoap client -> meshseal server", flush=True)
    secret, salt = secrets.token_bytes(16), secrets.token_bytes(8)
    id_context = "6d657368"
    srv_ctx = os.path.join(tmp, "a-server.toml")
    meshseal_context(srv_ctx, secret, salt, "01", "0a", "a-server-state", id_context)
    cli_dir = os.path.join(tmp, "a-client")
    aiocoap_context(cli_dir, secret, salt, "0a", "01", id_context)

    port = free_port()
    server = MeshsealServer(binary, srv_ctx, port)
    relay = Relay(port)
    relay.start()
    ctx = await aiocoap.Context.create_client_context()
    ctx.client_credentials.load_from_dict(
        {f"coap://127.0.0.1:{relay.port}/*": {"oscore": {"basedir": cli_dir}}}
    )

    async def request(code, path, payload=b""):
        msg = Message(code=code, uri=f"coap://127.0.0.1:{relay.port}/{path}", payload=payload)
        return await asyncio.wait_for(ctx.request(msg).response, 20)

    try:
        r = await request(aiocoap.GET, "temp")
        check(r.code == aiocoap.CONTENT and r.payload == b"21.5 C", "A GET /temp")
        for n in SIZES:
            p = os.urandom(n)
            r = await request(aiocoap.PUT, "lamp", p)
            ok = r.code == aiocoap.CHANGED
            r = await request(aiocoap.GET, "lamp")
            ok = ok and r.code == aiocoap.CONTENT and r.payload == p
            r = await request(aiocoap.POST, "echo", p)
            ok = ok and r.code == aiocoap.CONTENT and r.payload == p
            check(ok, f"A PUT+GET /lamp, POST /echo with {n} bytes")
        r = await request(aiocoap.GET, "echo")
        check(r.code == aiocoap.METHOD_NOT_ALLOWED, "A GET /echo is 4.05 (protected)")
        served = len(server.events(event="request"))
        check(served == 2 + 3 * len(SIZES), f"A server logged every request once ({served})")

        # Replay: record a PUT, move the lamp on, replay the recording from another socket.
        before = len(relay.requests)
        await request(aiocoap.PUT, "lamp", b"old")
        captured = relay.requests[before]
        await request(aiocoap.PUT, "lamp", b"new")
        reply = raw_exchange(port, captured)
        check(refused_as(reply, aiocoap.UNAUTHORIZED, b"Replay detected"),
              "A replayed request refused: 4.01 Replay detected")
        check(len(server.events(event="refused", reason="replay")) == 1, "A server logged reason replay")
        r = await request(aiocoap.GET, "lamp")
        check(r.payload == b"new", "A replay had no effect on /lamp")

        # Tampered request: the relay flips a tag byte on the way to the server.
        relay.tamper_request = True
        before = len(relay.responses)
        try:
            r = await request(aiocoap.PUT, "lamp", b"evil")
            got = ("accepted", r.code)
        except Exception as e:  # noqa: BLE001 - the client sees an unprotected error
            got = ("error", type(e).__name__)
        check(got[0] == "error", f"A aiocoap client did not accept the answer to a tampered request ({got})")
        reply = Message.decode(relay.responses[before]) if len(relay.responses) > before else None
        check(refused_as(reply, aiocoap.BAD_REQUEST, b"Decryption failed"),
              "A tampered request refused: 4.00 Decryption failed")
        check(len(server.events(event="refused", reason="decrypt_failed")) == 1,
              "A server logged reason decrypt_failed")
        r = await request(aiocoap.GET, "lamp")
        check(r.payload == b"new", "A tampered PUT had no effect on /lamp")

        # Tampered response: aiocoap must refuse it.
        relay.tamper_response = True
        try:
            r = await request(aiocoap.GET, "temp")
            got = ("accepted", r.code)
        except Exception as e:  # noqa: BLE001
            got = ("error", type(e).__name__)
        check(got[0] == "error", f"A aiocoap client refused a tampered response ({got})")

        # Lost replay window (Appendix B.1.2): restart without replay.json.
        old = relay.requests[-1]
        server.stop()
        os.remove(os.path.join(tmp, "a-server-state", "replay.json"))
        server = MeshsealServer(binary, srv_ctx, port)
        check("lost" in server.banner, "A restarted server knows its window is lost")
        r = await request(aiocoap.GET, "temp")
        check(r.code == aiocoap.CONTENT and r.payload == b"21.5 C",
              "A aiocoap answered the Echo challenge; request served")
        check(len(server.events(event="echo_challenge")) == 1 and len(server.events(event="request")) == 1,
              "A server challenged once, then acted once")
        reply = raw_exchange(port, old)
        check(refused_as(reply, aiocoap.UNAUTHORIZED, b"Replay detected"),
              "A pre-restart recording refused after recovery")
    finally:
        relay.stopped = True
        server.stop()
        await ctx.shutdown()
        # Let aiocoap persist and release its context while the directory still exists
        # (otherwise its finaliser runs after the temporary directory is gone).
        for secctx in list(ctx.client_credentials.values()):
            if getattr(secctx, "lockfile", None) is not None:
                secctx._destroy()


def meshseal_client(binary, ctx, uri, method="GET", payload=b""):
    p = subprocess.run(
        [binary, "oscore", "client", "--context", ctx, "--method", method,
         "--payload", payload.hex(), "--json", uri],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = json.loads(p.stdout) if p.stdout.strip() else {}
    return p.returncode, out, p.stderr


def part_b(binary, tmp):
    print("== B: meshseal client -> aiocoap server", flush=True)
    secret, salt = secrets.token_bytes(16), secrets.token_bytes(8)
    srv_dir = os.path.join(tmp, "b-server")
    aiocoap_context(srv_dir, secret, salt, "02", "0b")
    cli_ctx = os.path.join(tmp, "b-client.toml")
    meshseal_context(cli_ctx, secret, salt, "0b", "02", "b-client-state")

    port = free_port()
    server = AiocoapServer(srv_dir, port)
    relay = Relay(port)
    relay.start()
    base = f"coap://127.0.0.1:{relay.port}"

    def call(path, method="GET", payload=b""):
        return meshseal_client(binary, cli_ctx, f"{base}/{path}", method, payload)

    try:
        rc, out, err = call("temp")
        check(rc == 0 and out.get("code") == "2.05" and out.get("payload") == b"19.0 C".hex(),
              f"B GET /temp ({rc} {out} {err.strip()})")
        for n in SIZES:
            p = os.urandom(n)
            rc1, o1, _ = call("lamp", "PUT", p)
            rc2, o2, _ = call("lamp")
            rc3, o3, _ = call("echo", "POST", p)
            check(
                (rc1, rc2, rc3) == (0, 0, 0)
                and o1.get("code") == "2.04"
                and o2.get("payload") == p.hex()
                and o3.get("payload") == p.hex(),
                f"B PUT+GET /lamp, POST /echo with {n} bytes",
            )

        # Replay.
        before = len(relay.requests)
        call("lamp", "PUT", b"old")
        captured = relay.requests[before]
        call("lamp", "PUT", b"new")
        reply = raw_exchange(port, captured)
        check(refused_as(reply, aiocoap.UNAUTHORIZED, b"Replay detected"),
              "B replayed request refused by aiocoap: 4.01 Replay detected")
        rc, out, _ = call("lamp")
        check(out.get("payload") == b"new".hex(), "B replay had no effect on /lamp")

        # Tampered request.
        relay.tamper_request = True
        rc, out, _ = call("lamp", "PUT", b"evil")
        check(rc == 2 and out.get("status") == "refused" and out.get("code") == "4.00",
              f"B tampered request refused by aiocoap: 4.00 ({out})")
        rc, out, _ = call("lamp")
        check(out.get("payload") == b"new".hex(), "B tampered PUT had no effect on /lamp")

        # Tampered response: the meshseal client refuses it.
        relay.tamper_response = True
        rc, out, _ = call("temp")
        check(rc == 2 and out == {"status": "invalid_response", "reason": "decrypt_failed"},
              f"B meshseal client refused a tampered response ({out})")

        # Lost replay window on the aiocoap side.
        old = relay.requests[-1]
        server.stop()
        seq_file = os.path.join(srv_dir, "sequence.json")
        with open(seq_file) as f:
            seq = json.load(f)
        check(seq.get("received") == "unknown", "B killed aiocoap server left its window unknown")
        server = AiocoapServer(srv_dir, port)
        rc, out, err = call("temp")
        check(rc == 0 and out.get("payload") == b"19.0 C".hex() and "Echo" in err,
              f"B meshseal client answered aiocoap's Echo challenge ({rc} {out})")
        reply = raw_exchange(port, old)
        check(reply is not None and reply.code == aiocoap.UNAUTHORIZED and reply.opt.oscore is None,
              "B pre-restart recording refused after recovery")
    finally:
        relay.stopped = True
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meshseal", required=True)
    args = ap.parse_args()
    binary = os.path.abspath(args.meshseal)
    with tempfile.TemporaryDirectory(prefix="oscore-interop-") as tmp:
        asyncio.run(part_a(binary, tmp))
        part_b(binary, tmp)
    if FAILS:
        print(f"{len(FAILS)} check(s) failed", flush=True)
        sys.exit(1)
    print("all OSCORE interop checks passed", flush=True)


if __name__ == "__main__":
    main()
