"""An aiocoap Group OSCORE member serving the resources the meshseal group server has.

    python3 aiocoap_group_server.py --context member-02.toml --port PORT

The context is a file `meshseal oscore group new` wrote, turned into aiocoap's
SimpleGroupContext by group_context.py. Serves /temp (GET), /lamp (GET, PUT) and /echo (POST
returns the payload), OSCORE only, on 127.0.0.1:PORT; aiocoap answers group-mode requests in
pairwise mode. Prints "ready" on stdout once bound.
"""

import argparse
import asyncio
import os
import sys

import aiocoap
import aiocoap.resource as resource
from aiocoap.credentials import CredentialsMap
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "oscore"))
from aiocoap_server import Echo, Lamp, Temp  # noqa: E402  (the RFC 8613 server's resources)
from group_context import group_context  # noqa: E402


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--context", required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()

    site = resource.Site()
    site.add_resource(["temp"], Temp())
    site.add_resource(["lamp"], Lamp())
    site.add_resource(["echo"], Echo())

    creds = CredentialsMap()
    creds[":group"] = group_context(args.context)
    wrapped = OscoreSiteWrapper(site, creds)
    await aiocoap.Context.create_server_context(
        wrapped, bind=("127.0.0.1", args.port), server_credentials=creds
    )
    print("ready", flush=True)
    await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
