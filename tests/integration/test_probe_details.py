"""presence probe --details against real servers: contacts whose clients tell what they are.

The contact's resources are plain slixmpp clients (tests/support/peer.py's way of logging in) that
send a presence with XEP-0115 caps and a XEP-0319 idle stamp, or without caps, and answer
disco#info on their caps node, XEP-0092 version, or nothing at all.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import xml.etree.ElementTree as ET
from contextlib import contextmanager

from tests.support.helpers import User
from tests.support import Contact

CAPS = "http://jabber.org/protocol/caps"
DISCO = "http://jabber.org/protocol/disco#info"
VERSION = "jabber:iq:version"


def befriend(a: User, b: User) -> None:
    a.seed([Contact(b.jid, subscription="both")])
    b.seed([Contact(a.jid, subscription="both")])


async def _resource(spec: dict):
    """Log in as spec's jid/resource, send its presence, answer IQ gets by payload namespace
    from spec["answers"] (a namespace not there: stay silent)."""
    from slixmpp import ClientXMPP
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath

    client = ClientXMPP(f"{spec['jid']}/{spec['resource']}", spec["password"])
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cafile=spec["ca_file"])
    client.ssl_context, client.enable_direct_tls, client.enable_starttls = ctx, False, True
    client.auto_authorize, client.auto_subscribe = None, False
    answers = spec["answers"]

    def on_iq(iq) -> None:
        query = iq.xml[0] if len(iq.xml) else None
        ns = query.tag[1:].partition("}")[0] if query is not None else ""
        if iq["type"] == "get" and ns in answers:
            client.send_raw(f"<iq type='result' id='{iq['id']}' to='{iq['from']}'>{answers[ns]}</iq>")

    for ns in (DISCO, VERSION):
        client.register_handler(Callback(f"peer {ns}", MatchXPath(f"{{jabber:client}}iq/{{{ns}}}query"), on_iq))
    started = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _: started.done() or started.set_result(None))
    client.connect("127.0.0.1", spec["port"])
    await asyncio.wait_for(started, 10)
    client.send_raw(spec["presence"])
    ping = client.Iq()
    ping["type"], ping["to"] = "get", spec["jid"].partition("@")[2]
    ping.xml.append(ET.Element("{urn:xmpp:ping}ping"))
    await ping.send(timeout=10)  # the presence is out
    return client


async def _serve(specs: list[dict]) -> None:
    """Child process: bring every resource online, say "ready", stay until stdin closes."""
    import sys

    clients = [await _resource(spec) for spec in specs]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for client in clients:
        client.disconnect()


@contextmanager
def online(user: User, resources: list[tuple[str, str, dict[str, str]]]):
    """*user*'s (resource, presence XML, answers) online in a child process until the block ends
    (a process, not a thread: no second event loop inside the test runner)."""
    specs = [{"jid": user.jid, "password": user.password, "port": user.server.port, "ca_file": str(user.server.ca_file),
              "resource": r, "presence": p, "answers": a} for r, p, a in resources]
    proc = subprocess.Popen([sys.executable, "-m", "tests.integration.test_probe_details", json.dumps(specs)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # readiness signal (the child's own waits are bounded)
        assert line.strip() == "ready", f"peer resources did not come online: {line!r}"
        yield
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_details_name_the_client_of_each_online_resource_by_caps_or_version_and_idle(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    caps_presence = (f"<presence><priority>5</priority><c xmlns='{CAPS}' hash='sha-1' node='https://peer.example' ver='abc='/>"
                     "<idle xmlns='urn:xmpp:idle:1' since='2026-11-25T08:00:00Z'/></presence>")
    caps_info = (f"<query xmlns='{DISCO}' node='https://peer.example#abc='><identity category='client' type='pc' name='PeerCaps'/>"
                 "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>"
                 "<field var='software'><value>PeerCaps</value></field><field var='software_version'><value>1.5</value></field></x></query>")
    version = f"<query xmlns='{VERSION}'><name>PeerBot</name><version>2.0</version></query>"
    with online(bob, [("caps", caps_presence, {DISCO: caps_info}),
                      ("plain", "<presence><priority>3</priority></presence>", {VERSION: version}),
                      ("silent", f"<presence><priority>1</priority><c xmlns='{CAPS}' hash='sha-1' node='https://x.example' ver='q='/></presence>", {})]):
        r = run_cli(alice, "--timeout", "3", "presence", "probe", "--details", "-o", "json")
    assert r.code == 0, r.stderr
    rows = [(x["resource"], x["state"], x["client"], x["idle_since"]) for x in r.json()]
    assert rows == [("caps", "online", "PeerCaps 1.5", "2026-11-25T08:00:00Z"),
                    ("plain", "online", "PeerBot 2.0", None),
                    ("silent", "online", None, None)]  # never answered: not waited for past --timeout


def test_without_details_rows_have_no_detail_keys(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    r = run_cli(alice, "presence", "probe", "-o", "json")
    assert r.code == 0, r.stderr
    assert [("client" in x, "idle_since" in x) for x in r.json()] == [(False, False)]


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1])))
