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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from group_context import group_context  # noqa: E402


class Temp(resource.Resource):
    async def render_get(self, request):
        return aiocoap.Message(code=aiocoap.CONTENT, payload=b"19.0 C")


class Lamp(resource.Resource):
    def __init__(self):
        super().__init__()
        self.state = b"off"

    async def render_get(self, request):
        return aiocoap.Message(code=aiocoap.CONTENT, payload=self.state)

    async def render_put(self, request):
        self.state = request.payload
        return aiocoap.Message(code=aiocoap.CHANGED)


class Echo(resource.Resource):
    async def render_post(self, request):
        return aiocoap.Message(code=aiocoap.CONTENT, payload=request.payload)


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
