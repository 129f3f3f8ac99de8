"""The library's floor: connect with slixmpp, fetch the roster, print it as JSON, disconnect.

Usage: XMPP_PASSWORD=... floor_slixmpp_roster.py JID HOST PORT CA_FILE
No error handling beyond what a bare script needs; bench_foundation.py compares
``xmppctl roster list -o json`` against it.
"""

import asyncio
import json
import os
import ssl
import sys

from slixmpp import ClientXMPP


async def login(jid: str, host: str, port: int, ca_file: str) -> ClientXMPP:
    """The bare login every floor script shares: STARTTLS, the given CA, session started."""
    client = ClientXMPP(jid, os.environ["XMPP_PASSWORD"])
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cafile=ca_file)
    client.ssl_context = ctx
    client.enable_direct_tls = False
    client.enable_starttls = True
    client.enable_plaintext = False
    started = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _: started.set_result(None))
    client.connect(host, port)
    await asyncio.wait_for(started, 10)
    return client


async def main(jid: str, host: str, port: int, ca_file: str) -> None:
    client = await login(jid, host, port, ca_file)
    iq = client.Iq()
    iq["type"] = "get"
    iq.enable("roster")
    result = await iq.send(timeout=10)
    rows = []
    for item_jid, item in result["roster"]["items"].items():
        rows.append({"jid": str(item_jid), "name": item["name"] or None,
                     "subscription": item["subscription"], "ask": item["ask"] == "subscribe",
                     "groups": sorted(item["groups"])})
    rows.sort(key=lambda r: r["jid"])
    json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    await client.disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
