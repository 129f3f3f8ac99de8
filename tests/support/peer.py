"""A plain XMPP client for tests, built directly on slixmpp: what a user's real client does.

It sends messages (as a contact would) and logs in like an ordinary client (initial presence
at a non-negative priority), collecting the messages the server delivers, so tests can prove
that xmppctl left the account's stored messages in place.  Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
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


def answer_subscriptions(contact: User, to: str, *, approve: bool, ask: bool, timeout: float = 10,
                         online: threading.Event | None = None) -> dict:
    """*contact*'s client comes online and answers *to* (a moved account) as a person would:
    with *approve*, waits for *to*'s subscription request (stored or live) and approves it;
    with *ask*, asks *to* for a subscription.  *online* (for a client that is already online
    when the request is sent, run in a thread): set once its initial presence is sent.  Then a ping to *to*'s server, sent after the
    answers: on another server it travels the same server-to-server stream, so once it is
    answered that server has processed them.  Returns what the request carried:
    ``{"requested": bool, "moved_from": [old-jid text...]}``."""
    import xml.etree.ElementTree as ET

    async def main() -> dict:
        async with _client(contact, resource="answering", timeout=timeout) as client:
            seen: dict = {"requested": False, "moved_from": []}
            request = asyncio.get_running_loop().create_future()

            def on_subscribe(presence) -> None:
                if presence["from"].bare == to and not request.done():
                    seen["requested"] = True
                    seen["moved_from"] = [e.text for e in presence.xml.iter("{urn:xmpp:moved:1}old-jid")]
                    request.set_result(None)

            client.add_event_handler("presence_subscribe", on_subscribe)
            client.send_presence(ppriority=0)
            if online is not None:
                online.set()
            if approve:
                await asyncio.wait_for(request, timeout)
                client.send_presence(pto=to, ptype="subscribed")
            if ask:
                client.send_presence(pto=to, ptype="subscribe")
            iq = client.Iq()
            iq["type"], iq["to"] = "get", to.partition("@")[2]
            iq.xml.append(ET.Element("{urn:xmpp:ping}ping"))
            await iq.send(timeout=timeout)
            return seen

    return asyncio.run(main())


def roster_after_round_trip(user: User, domain: str, *, timeout: float = 10) -> dict[str, dict]:
    """*user*'s roster ({jid: {"subscription", "ask"}}) read after a ping to *domain* (another
    server) was answered: the answer comes back on the stream that carried everything *domain*
    sent to *user*'s server before, so the roster includes what it did."""
    import xml.etree.ElementTree as ET

    async def main() -> dict[str, dict]:
        async with _client(user, resource="reader", timeout=timeout) as client:
            ping = client.Iq()
            ping["type"], ping["to"] = "get", domain
            ping.xml.append(ET.Element("{urn:xmpp:ping}ping"))
            await ping.send(timeout=timeout)
            get = client.Iq()
            get["type"] = "get"
            get.xml.append(ET.Element("{jabber:iq:roster}query"))
            answer = await get.send(timeout=timeout)
            return {item.get("jid"): {"subscription": item.get("subscription", "none"), "ask": item.get("ask") == "subscribe"}
                    for item in answer.xml.iter("{jabber:iq:roster}item")}

    return asyncio.run(main())
