#!/usr/bin/env python3
"""Group OSCORE (RFC 10021) interop between meshseal and aiocoap on loopback; exits 1 on any
mismatch.

    python3 tests/interop/group_oscore/run.py --meshseal target/debug/meshseal

`meshseal oscore group new` writes a group of three; aiocoap's SimpleGroupContext is built
from the same files (group_context.py). Part A: an aiocoap member sends group-mode requests to
a meshseal member. Part B: a meshseal member sends group-mode requests to an aiocoap member.
Both servers answer in pairwise mode. Each part runs GET/PUT/POST with payloads of 0-512 bytes,
replays a recorded request from another socket (refused), lets an on-path relay change a byte
of a request's ciphertext, of its countersignature and of a response (all refused), and sends
a request from an impostor: a member id with a signing key the group does not know (refused).
Each part then does the same in pairwise mode: requests to the one member, sealed under the
key only the two share (payloads of 0-512 bytes, a replay and a changed request refused).
Part C moves the group to a new key generation (`meshseal oscore group rekey`: new Gid, master
secret and salt): members of the new generation talk both ways, sequence numbers start again at
0, and a member still holding the old generation is refused.
"""

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading

import aiocoap
from aiocoap import Message

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "oscore"))
from group_context import group_context  # noqa: E402
from run import (  # noqa: E402
    FAILS, AiocoapServer, MeshsealServer, Relay, check, free_port, raw_exchange)

SIZES = [0, 1, 2, 4, 16, 64, 100, 255, 256, 300, 511, 512]
# From the end of a group-mode request: the encrypted countersignature's last byte, and the
# last byte of the AEAD tag just before the 64-byte countersignature.
SIGNATURE_BYTE = -1
TAG_BYTE = -65


class GroupRelay(Relay):
    """The relay of the RFC 8613 run, changing a chosen byte of the next request."""

    def __init__(self, upstream_port):
        super().__init__(upstream_port)
        self.offset = -1

    def flip(self, data):
        i = len(data) + self.offset if self.offset < 0 else self.offset
        return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def MeshsealGroupServer(binary, context, port, extra=()):
    """`meshseal oscore group server`, through the RFC 8613 run's server wrapper."""
    return MeshsealServer(binary, context, port, ("oscore", "group", "server"),
                          "group oscore server on", extra)


def AiocoapGroupServer(context, port):
    return AiocoapServer(context, port, os.path.join(HERE, "aiocoap_group_server.py"))


async def part_a(binary, tmp):
    print("== A: aiocoap member -> meshseal member (group-mode requests)", flush=True)
    port = free_port()
    server = MeshsealGroupServer(binary, os.path.join(tmp, "member-01.toml"), port)
    relay = GroupRelay(port)
    relay.start()
    uri = f"coap://127.0.0.1:{relay.port}"
    ctx = await aiocoap.Context.create_client_context()
    ctx.client_credentials[f"{uri}/*"] = group_context(os.path.join(tmp, "member-02.toml"))

    async def request(code, path, payload=b"", context=ctx):
        msg = Message(code=code, uri=f"{uri}/{path}", payload=payload)
        return await asyncio.wait_for(context.request(msg).response, 20)

    async def refused(code, path, payload=b"", context=ctx):
        try:
            r = await request(code, path, payload, context)
            return ("accepted", r.code)
        except Exception as e:  # noqa: BLE001 - the client sees an unprotected error
            return ("error", type(e).__name__)

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
        served = server.events(event="request", mode="group", sender="02")
        check(len(served) == 1 + 3 * len(SIZES),
              f"A server verified every group-mode request once ({len(served)})")

        # Replay: record a PUT, move the lamp on, replay the recording from another socket.
        before = len(relay.requests)
        await request(aiocoap.PUT, "lamp", b"old")
        captured = relay.requests[before]
        await request(aiocoap.PUT, "lamp", b"new")
        reply = raw_exchange(port, captured)
        check(reply is not None and reply.code == aiocoap.UNAUTHORIZED
              and reply.opt.oscore is None, "A replayed request refused: 4.01")
        check(len(server.events(event="refused", reason="replay")) == 1,
              "A server logged reason replay")

        # A changed byte of the ciphertext, then of the countersignature.
        for what, offset in (("ciphertext", TAG_BYTE), ("countersignature", SIGNATURE_BYTE)):
            relay.offset, relay.tamper_request = offset, True
            got = await refused(aiocoap.PUT, "lamp", b"evil")
            check(got[0] == "error", f"A request with a changed {what} not answered ({got})")
        check(len(server.events(event="refused", reason="bad_signature")) == 2,
              "A server refused both changes as bad_signature (the signature covers the "
              "ciphertext and is checked first)")

        # A changed response: aiocoap refuses it.
        relay.tamper_response = True
        got = await refused(aiocoap.GET, "temp")
        check(got[0] == "error", f"A aiocoap refused a changed pairwise response ({got})")

        # An impostor: member 02's Sender ID with a signing key the group does not know.
        imp = await aiocoap.Context.create_client_context()
        imp.client_credentials[f"{uri}/*"] = group_context(
            os.path.join(tmp, "member-02.toml"), private_key=secrets.token_bytes(32))
        got = await refused(aiocoap.PUT, "lamp", b"impostor", imp)
        await imp.shutdown()
        check(got[0] == "error", f"A impostor's request not answered ({got})")
        check(len(server.events(event="refused", reason="bad_signature")) == 3,
              "A server refused the impostor as bad_signature")

        r = await request(aiocoap.GET, "lamp")
        check(r.payload == b"new", "A no refused request changed /lamp")

        # Pairwise mode: aiocoap's member 03 to meshseal's member 01 alone.
        pw = await aiocoap.Context.create_client_context()
        pw.client_credentials[f"{uri}/*"] = group_context(
            os.path.join(tmp, "member-03.toml")).pairwise_for(bytes.fromhex("01"))
        for n in SIZES:
            p = os.urandom(n)
            r = await request(aiocoap.PUT, "lamp", p, pw)
            ok = r.code == aiocoap.CHANGED
            r = await request(aiocoap.POST, "echo", p, pw)
            ok = ok and r.code == aiocoap.CONTENT and r.payload == p
            check(ok, f"A pairwise PUT /lamp, POST /echo with {n} bytes")
        served = server.events(event="request", mode="pairwise", sender="03")
        check(len(served) == 2 * len(SIZES),
              f"A server verified every pairwise-mode request once ({len(served)})")
        before = len(relay.requests)
        await request(aiocoap.PUT, "lamp", b"pw-old", pw)
        captured = relay.requests[before]
        await request(aiocoap.PUT, "lamp", b"pw-new", pw)
        reply = raw_exchange(port, captured)
        check(reply is not None and reply.code == aiocoap.UNAUTHORIZED
              and reply.opt.oscore is None, "A replayed pairwise request refused: 4.01")
        relay.offset, relay.tamper_request = -1, True
        got = await refused(aiocoap.PUT, "lamp", b"evil", pw)
        check(got[0] == "error", f"A changed pairwise request not answered ({got})")
        check(len(server.events(event="refused", reason="decrypt_failed")) == 1,
              "A server refused the changed pairwise request as decrypt_failed")
        r = await request(aiocoap.GET, "lamp", b"", pw)
        check(r.payload == b"pw-new", "A refused pairwise requests had no effect on /lamp")
        await pw.shutdown()

        # Lost windows (RFC 10021 §10): restarted without replay.json, the server answers
        # with a 4.01 and an Echo option; aiocoap repeats its request with it and is served.
        old = captured
        server.stop()
        os.remove(os.path.join(tmp, "member-01-state", "replay.json"))
        server = MeshsealGroupServer(binary, os.path.join(tmp, "member-01.toml"), port)
        r = await request(aiocoap.GET, "temp")
        check(r.code == aiocoap.CONTENT and r.payload == b"21.5 C",
              "A aiocoap answered the Echo challenge; request served")
        check(len(server.events(event="echo_challenge", sender="02")) == 1
              and len(server.events(event="request")) == 1,
              "A server challenged once, then acted once")
        # A recording of member 03 from before the restart: its window is lost too, so it is
        # challenged (a protected answer under the server's own number), never acted on.
        reply = raw_exchange(port, old)
        check(reply is not None and reply.opt.oscore is not None
              and len(server.events(event="echo_challenge", sender="03")) == 1,
              "A a pre-restart recording is challenged, not acted on")
        check(len(server.events(event="request")) == 1, "A the recording was not served")

        # Group-mode responses: meshseal's server signs its answers; aiocoap verifies them.
        server.stop()
        server = MeshsealGroupServer(binary, os.path.join(tmp, "member-01.toml"), port,
                                     ["--group-responses"])
        before = len(relay.responses)
        r = await request(aiocoap.GET, "temp")
        check(r.code == aiocoap.CONTENT and r.payload == b"21.5 C",
              "A aiocoap verified a group-mode (signed) response")
        raw = Message.decode(relay.responses[before]) if len(relay.responses) > before else None
        check(raw is not None and raw.opt.oscore and raw.opt.oscore[0] & 0x20
              and len(raw.payload) >= 8 + 64,
              "A the response carried the Group Flag and a countersignature")
        relay.tamper_response = True
        got = await refused(aiocoap.GET, "temp")
        check(got[0] == "error", f"A aiocoap refused a changed group-mode response ({got})")
    finally:
        relay.stopped = True
        server.stop()
        await ctx.shutdown()


class AiocoapGroupResponder(threading.Thread):
    """Answers requests with aiocoap's SimpleGroupContext in group mode (signed responses),
    which aiocoap's own server never does: it protects each response with the group context
    itself. Serves GET /temp only."""

    def __init__(self, context_file):
        super().__init__(daemon=True)
        self.ctx = group_context(context_file)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.answered = 0
        self.stopped = False

    def run(self):
        from aiocoap import oscore
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            msg = Message.decode(data)
            aspect = self.ctx.get_oscore_context_for(oscore.verify_start(msg))
            _, request_id = aspect.unprotect(msg)
            resp = Message(code=aiocoap.CONTENT, payload=b"19.0 C")
            protected, _ = self.ctx.protect(resp, request_id)
            protected.mtype, protected.mid, protected.token = aiocoap.ACK, msg.mid, msg.token
            self.sock.sendto(protected.encode(), peer)
            self.answered += 1


def meshseal_client(binary, ctx, uri, method="GET", payload=b"", timeout=20, to=None):
    extra = ["--to", to] if to else []
    p = subprocess.run(
        [binary, "oscore", "group", "client", "--context", ctx, "--method", method,
         "--hex", payload.hex(), "--json", "--timeout", str(timeout), *extra, uri],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = json.loads(p.stdout) if p.stdout.strip() else {}
    return p.returncode, out, p.stderr


def part_b(binary, tmp):
    print("== B: meshseal member -> aiocoap member (group-mode requests)", flush=True)
    port = free_port()
    server = AiocoapGroupServer(os.path.join(tmp, "member-02.toml"), port)
    relay = GroupRelay(port)
    relay.start()
    base = f"coap://127.0.0.1:{relay.port}"
    member = os.path.join(tmp, "member-03.toml")

    def call(path, method="GET", payload=b"", ctx=member, timeout=20, to=None):
        return meshseal_client(binary, ctx, f"{base}/{path}", method, payload, timeout, to)

    try:
        rc, out, err = call("temp")
        check(rc == 0 and out.get("code") == "2.05" and out.get("payload") == b"19.0 C".hex()
              and out.get("responder") == "02", f"B GET /temp ({rc} {out} {err.strip()})")
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

        # Replay from another socket: aiocoap must not act on it again.
        before = len(relay.requests)
        call("lamp", "PUT", b"old")
        captured = relay.requests[before]
        call("lamp", "PUT", b"new")
        reply = raw_exchange(port, captured, timeout=2.0)
        check(reply is None or (reply.opt.oscore is None and reply.code.is_response()
                                and not reply.code.is_successful()),
              f"B replayed request refused by aiocoap ({reply and reply.code})")
        rc, out, _ = call("lamp")
        check(out.get("payload") == b"new".hex(), "B replay had no effect on /lamp")

        # A changed ciphertext, then countersignature: aiocoap refuses; /lamp unchanged.
        for what, offset in (("ciphertext", TAG_BYTE), ("countersignature", SIGNATURE_BYTE)):
            relay.offset, relay.tamper_request = offset, True
            rc, out, _ = call("lamp", "PUT", b"evil", timeout=3)
            check(rc != 0 and out.get("status") != "ok",
                  f"B request with a changed {what} refused by aiocoap ({rc} {out})")
        rc, out, _ = call("lamp")
        check(out.get("payload") == b"new".hex(), "B changed requests had no effect on /lamp")

        # A changed response: the meshseal client refuses it.
        relay.tamper_response = True
        rc, out, _ = call("temp")
        check(rc == 2 and out == {"status": "invalid_response", "reason": "decrypt_failed"},
              f"B meshseal refused a changed pairwise response ({out})")

        # An impostor: member 01's Sender ID with a signing key the group does not know.
        with open(os.path.join(tmp, "member-01.toml")) as f:
            text = f.read()
        impostor = os.path.join(tmp, "impostor-01.toml")
        lines = []
        for line in text.splitlines():
            if line.startswith("private_key"):
                line = f'private_key = "{secrets.token_bytes(32).hex()}"'
            elif line.startswith("state"):
                line = 'state = "impostor-01-state"'
            lines.append(line)
        with open(impostor, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(impostor, 0o600)
        rc, out, _ = call("lamp", "PUT", b"impostor", ctx=impostor, timeout=3)
        check(rc != 0 and out.get("status") != "ok", f"B impostor refused by aiocoap ({rc} {out})")
        rc, out, _ = call("lamp")
        check(out.get("payload") == b"new".hex(), "B the impostor had no effect on /lamp")

        # Pairwise mode: meshseal's member 03 to aiocoap's member 02 alone.
        for n in SIZES:
            p = os.urandom(n)
            rc1, o1, _ = call("lamp", "PUT", p, to="02")
            rc2, o2, _ = call("echo", "POST", p, to="02")
            check((rc1, rc2) == (0, 0) and o1.get("code") == "2.04"
                  and o2.get("payload") == p.hex() and o2.get("responder") == "02",
                  f"B pairwise PUT /lamp, POST /echo with {n} bytes")
        before = len(relay.requests)
        call("lamp", "PUT", b"pw-old", to="02")
        captured = relay.requests[before]
        call("lamp", "PUT", b"pw-new", to="02")
        reply = raw_exchange(port, captured, timeout=2.0)
        check(reply is None or (reply.opt.oscore is None and not reply.code.is_successful()),
              f"B replayed pairwise request refused by aiocoap ({reply and reply.code})")
        relay.offset, relay.tamper_request = -1, True
        rc, out, _ = call("lamp", "PUT", b"evil", timeout=3, to="02")
        check(rc != 0 and out.get("status") != "ok",
              f"B changed pairwise request refused by aiocoap ({rc} {out})")
        rc, out, _ = call("lamp", to="02")
        check(out.get("payload") == b"pw-new".hex(),
              "B refused pairwise requests had no effect on /lamp")
    finally:
        relay.stopped = True
        server.stop()

    # Group-mode responses protected by aiocoap's group context: meshseal verifies them.
    responder = AiocoapGroupResponder(os.path.join(tmp, "member-02.toml"))
    responder.start()
    relay = GroupRelay(responder.port)
    relay.start()
    try:
        rc, out, err = meshseal_client(binary, member, f"coap://127.0.0.1:{relay.port}/temp")
        raw = Message.decode(relay.responses[-1]) if relay.responses else None
        check(rc == 0 and out.get("payload") == b"19.0 C".hex() and out.get("responder") == "02"
              and raw is not None and raw.opt.oscore[0] & 0x20,
              f"B meshseal verified aiocoap's group-mode (signed) response ({rc} {out})")
        relay.tamper_response = True
        rc, out, _ = meshseal_client(binary, member, f"coap://127.0.0.1:{relay.port}/temp")
        check(rc == 2 and out.get("status") == "invalid_response"
              and out.get("reason") == "bad_signature",
              f"B meshseal refused a changed group-mode response ({out})")
    finally:
        relay.stopped = True
        responder.stopped = True


async def part_c(binary, tmp):
    print("== C: a new key generation", flush=True)
    old = group_context(os.path.join(tmp, "member-02.toml"))
    p = subprocess.run([binary, "oscore", "group", "rekey", "--dir", tmp],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"group rekey ({p.stderr.strip()})")
    port = free_port()
    server = MeshsealGroupServer(binary, os.path.join(tmp, "member-01.toml"), port)
    uri = f"coap://127.0.0.1:{port}"
    ctx = await aiocoap.Context.create_client_context()
    ctx.client_credentials[f"{uri}/*"] = group_context(os.path.join(tmp, "member-02.toml"))
    stale = await aiocoap.Context.create_client_context()
    stale.client_credentials[f"{uri}/*"] = old
    try:
        r = await asyncio.wait_for(
            ctx.request(Message(code=aiocoap.GET, uri=f"{uri}/temp")).response, 20)
        check(r.code == aiocoap.CONTENT, "C aiocoap member of the new generation served")
        seqs = [e["seq"] for e in server.events(event="request", sender="02")]
        check(seqs == [0], f"C its numbers start again at 0 under the new keys ({seqs})")
        try:
            r = await asyncio.wait_for(
                stale.request(Message(code=aiocoap.GET, uri=f"{uri}/temp")).response, 20)
            got = ("accepted", r.code)
        except Exception as e:  # noqa: BLE001
            got = ("error", type(e).__name__)
        check(got[0] == "error" and len(server.events(event="refused",
                                                      reason="unknown_kid_context")) == 1,
              f"C a member of the old generation refused (unknown_kid_context) ({got})")
    finally:
        server.stop()
        await ctx.shutdown()
        await stale.shutdown()
    port = free_port()
    aio = AiocoapGroupServer(os.path.join(tmp, "member-02.toml"), port)
    try:
        rc, out, err = meshseal_client(binary, os.path.join(tmp, "member-03.toml"),
                                       f"coap://127.0.0.1:{port}/temp")
        check(rc == 0 and out.get("payload") == b"19.0 C".hex() and "new key generation" in err,
              f"C meshseal member moved to the new generation, served by aiocoap ({rc} {out})")
    finally:
        aio.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meshseal", required=True)
    args = ap.parse_args()
    binary = os.path.abspath(args.meshseal)
    with tempfile.TemporaryDirectory(prefix="group-oscore-interop-") as tmp:
        p = subprocess.run([binary, "oscore", "group", "new", "--members", "3", "--out-dir", tmp],
                           capture_output=True, text=True)
        check(p.returncode == 0, f"group new ({p.stderr.strip()})")
        asyncio.run(part_a(binary, tmp))
        part_b(binary, tmp)
        asyncio.run(part_c(binary, tmp))
    if FAILS:
        print(f"{len(FAILS)} check(s) failed", flush=True)
        sys.exit(1)
    print("all Group OSCORE interop checks passed", flush=True)


if __name__ == "__main__":
    main()
