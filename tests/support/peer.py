"""A plain XMPP client for tests, built directly on slixmpp: what a user's real client does.

It sends messages (as a contact would) and logs in like an ordinary client (initial presence
at a non-negative priority), collecting the messages the server delivers, so tests can prove
that xmppctl left the account's stored messages in place.  Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import ssl
from contextlib import asynccontextmanager
from typing import AsyncIterator

from tests.support.helpers import User


_TLS_CONTEXTS: dict[str, ssl.SSLContext] = {}


def _tls_context(ca_file: str) -> ssl.SSLContext:
    """A verifying context that trusts the test server's CA, built once per CA: loading the
    system store (ssl.create_default_context, slixmpp's default) costs ~50 ms of CPU a time."""
    if ca_file not in _TLS_CONTEXTS:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
        ctx.load_verify_locations(cafile=ca_file)
        _TLS_CONTEXTS[ca_file] = ctx
    return _TLS_CONTEXTS[ca_file]


@asynccontextmanager
async def _client(user: User, *, resource: str = "peer", timeout: float = 10) -> AsyncIterator[object]:
    from slixmpp import ClientXMPP

    client = ClientXMPP(f"{user.jid}/{resource}", user.password, ssl_context=_tls_context(str(user.server.ca_file)))
    client.enable_direct_tls = False
    client.enable_starttls = True
    client.enable_plaintext = False
    client.auto_authorize = None
    client.auto_subscribe = False
    client.messages = []  # type: ignore[attr-defined]
    client.arrived = asyncio.Event()  # type: ignore[attr-defined]

    def on_message(msg) -> None:
        if msg["body"]:
            client.messages.append({"from": str(msg["from"]), "body": msg["body"], "type": msg["type"]})
            client.arrived.set()

    client.add_event_handler("message", on_message)
    started = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _: started.done() or started.set_result(None))
    client.add_event_handler("failed_all_auth", lambda _: started.done() or started.set_exception(AssertionError("auth failed")))
    client.connect("127.0.0.1", user.server.port)
    try:
        await asyncio.wait_for(started, timeout)
        yield client
    finally:
        client.cancel_connection_attempt()
        try:
            await asyncio.wait_for(client.disconnect(wait=2), 5)
        except Exception:
            client.abort()


async def _ping(client, timeout: float) -> None:
    """A round trip: the server has processed everything this client sent before."""
    import xml.etree.ElementTree as ET

    iq = client.Iq()
    iq["type"] = "get"
    iq["to"] = client.boundjid.domain
    iq.xml.append(ET.Element("{urn:xmpp:ping}ping"))
    await iq.send(timeout=timeout)


def send_messages(sender: User, to: str, bodies: list[str], *, timeout: float = 10) -> None:
    """*sender* sends each body as a chat message to *to*; returns once the server has them."""

    async def main() -> None:
        async with _client(sender, resource="sender", timeout=timeout) as client:
            for body in bodies:
                client.send_message(mto=to, mbody=body, mtype="chat")
            await _ping(client, timeout)

    asyncio.run(main())


def receive_stored(user: User, expect: int, *, priority: int = 5, timeout: float = 10) -> list[dict]:
    """Log in as a real client (initial presence at *priority*) and return the messages delivered.

    Waits until *expect* messages arrived (or *timeout*), then one more round trip so that
    anything else the server sends on login is collected too.
    """

    async def main() -> list[dict]:
        async with _client(user, resource="realclient", timeout=timeout) as client:
            client.send_presence(ppriority=priority)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while len(client.messages) < expect and loop.time() < deadline:
                client.arrived.clear()
                try:
                    await asyncio.wait_for(client.arrived.wait(), deadline - loop.time())
                except asyncio.TimeoutError:
                    break
            await _ping(client, timeout)
            return list(client.messages)

    return asyncio.run(main())


def send_subscribe(sender: User, to: str, *, timeout: float = 10) -> None:
    """*sender* asks *to* for a presence subscription (as a contact's client would)."""

    async def main() -> None:
        async with _client(sender, resource="sender", timeout=timeout) as client:
            client.send_presence(pto=to, ptype="subscribe")
            await _ping(client, timeout)

    asyncio.run(main())


def send_presences(sender: User, stanzas: list[tuple[str, str]], *, timeout: float = 10) -> None:
    """*sender* sends each (to, type) presence, e.g. (new_jid, "subscribed"), as a contact's client
    would (no initial presence); returns once the server has processed them."""

    async def main() -> None:
        async with _client(sender, resource="sender", timeout=timeout) as client:
            for to, kind in stanzas:
                client.send_presence(pto=to, ptype=kind)
            await _ping(client, timeout)

    asyncio.run(main())


def pep_item(reader: User, owner: str, node: str, *, timeout: float = 10) -> str:
    """The items of *owner*'s PEP *node* as *reader* fetches them (XML text; raises on an error)."""

    async def main() -> str:
        import xml.etree.ElementTree as ET

        async with _client(reader, resource="reader", timeout=timeout) as client:
            iq = client.Iq()
            iq["type"] = "get"
            iq["to"] = owner
            pubsub = ET.SubElement(iq.xml, "{http://jabber.org/protocol/pubsub}pubsub")
            ET.SubElement(pubsub, "{http://jabber.org/protocol/pubsub}items", {"node": node})
            answer = await iq.send(timeout=timeout)
            return ET.tostring(answer.xml, encoding="unicode")

    return asyncio.run(main())
