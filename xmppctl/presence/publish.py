"""Sending our own presence: validate, publish (messages stay stored), hold, and the ping barrier."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConnectionFailure, UsageError
from ..jid import parse_jid
from ..text import validate_status
from .model import check_priority, parse_show
from ..xmpp.ns import DISCO_INFO_NS, INVISIBLE_NS, PING_NS

if TYPE_CHECKING:
    from ..xmpp.session_api import SessionAPI


@dataclass(frozen=True, slots=True)
class PresenceRequest:
    """A validated presence to send: broadcast (no ``to``) or directed to each JID in ``to``."""

    type: str = "available"  #: available | unavailable
    show: str | None = None
    status: str | None = None
    priority: int | None = None
    to: tuple[str, ...] = ()


def make_request(*, show: str | None = None, status: str | None = None, priority: int | None = None,
                 to: Sequence[str] = (), unavailable: bool = False) -> PresenceRequest:
    """Validate everything a ``presence set`` was given; UsageError (exit 2) before anything is sent."""
    shown = parse_show(show)
    if unavailable and show is not None:
        raise UsageError("--unavailable takes no --show (an unavailable presence has no show)")
    targets: dict[str, None] = {}
    for value in to:
        targets.setdefault(parse_jid(value).full, None)
    return PresenceRequest(type="unavailable" if unavailable else "available", show=shown,
                           status=validate_status(status, "--status"), priority=check_priority(priority), to=tuple(targets))


def send_presence(session: SessionAPI, req: PresenceRequest) -> None:
    """Send *req*: one broadcast presence, or one directed presence per target."""
    for target in req.to or (None,):
        session.send_presence(to=target, type=req.type, show=req.show, status=req.status, priority=req.priority)


async def publish(session: SessionAPI, req: PresenceRequest) -> None:
    """Send *req*; a broadcast available presence at priority >= 0 (which makes servers flush
    stored offline messages) is preceded by the XEP-0013 request that keeps them stored where
    the server supports it.  Messages that reach the session anyway go to its StrayKeeper."""
    if req.type == "available" and not req.to and (req.priority is None or req.priority >= 0):
        await session.keep_offline_messages_stored()
    send_presence(session, req)


async def announce(session: SessionAPI, req: PresenceRequest) -> None:
    """:func:`publish` *req*, then wait for the answer to a ping sent after it: once this
    returns the server has the presence, so scripts (and tests) waiting for what a command
    prints can rely on the contacts seeing it."""
    await publish(session, req)
    await barrier(session)


async def hold_presence(session: SessionAPI, req: PresenceRequest, hold: float | None, stop: asyncio.Event) -> str:
    """Keep the session (and the presence just sent) up for *hold* seconds (None: forever) or
    until *stop* is set, then send unavailable to the same audience.  Returns why it ended.
    """
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({stopper, session.closed}, timeout=hold, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if session.closed in done:
        raise ConnectionFailure("connection lost while holding presence")
    send_presence(session, PresenceRequest(type="unavailable", to=req.to))
    # A round trip makes sure the server has the unavailable before the stream is closed.
    await barrier(session)
    return "signal" if stopper in done else "time"


async def barrier(session: SessionAPI, timeout: float | None = None) -> None:
    """Ping our own server and wait for the answer: everything the server wrote to us before
    (e.g. a contact's other resources' probe answers) has then been seen by the stanza hook.
    """
    from ..errors import ServerRefused

    try:
        await session.query("get", ET.Element(f"{{{PING_NS}}}ping"), to=session.bare_jid.partition("@")[2],
                            timeout=timeout, what="ping")
    except ServerRefused:  # an error answer is still an answer: the stream is in sync
        pass


async def initial_presence(session: SessionAPI, priority: int) -> None:
    """Broadcast available presence at *priority*; at >= 0 (an explicit choice) first ask
    XEP-0013 to keep stored messages stored where the server allows it."""
    if priority >= 0:
        await session.keep_offline_messages_stored()
    session.send_initial_presence(priority)


async def server_offers(session: SessionAPI, feature: str) -> bool:
    """Whether the account's server lists *feature* in its disco#info (an error answer: no)."""
    from ..errors import ServerRefused

    domain = session.bare_jid.partition("@")[2]
    try:
        result = await session.query("get", ET.Element(f"{{{DISCO_INFO_NS}}}query"), to=domain,
                                     what="service discovery of the server")
    except ServerRefused:
        return False
    return any(f.get("var") == feature for f in result.iter(f"{{{DISCO_INFO_NS}}}feature"))


async def become_invisible(session: SessionAPI) -> None:
    """XEP-0186: make this session invisible before it sends any presence; exit 6 where unsupported.

    The server is asked first (disco#info); without ``urn:xmpp:invisible:0`` nothing else is
    sent.  ``probe='true'`` (XEP-0186 0.13) asks the server to still probe our contacts on our
    initial presence, which is what a probe or watch needs.  What contacts see without it:
    docs/protocol-notes.md, "Invisibility (XEP-0186)".
    """
    from ..errors import ServerRefused

    if not await server_offers(session, INVISIBLE_NS):
        raise ServerRefused("server does not support invisibility (XEP-0186): contacts would see this session "
                            "online; run without --invisible (see docs/protocol-notes.md)",
                            condition="feature-not-implemented")
    await session.query("set", ET.Element(f"{{{INVISIBLE_NS}}}invisible", {"probe": "true"}),
                        what="invisible command (XEP-0186)")
