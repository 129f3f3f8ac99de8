"""A stand-in for :class:`xmppctl.xmpp.session.Session` with an in-memory roster, for CLI tests.

It implements :class:`xmppctl.xmpp.session_api.SessionAPI`, the session API the commands use
(tests/unit/test_session_api.py compares its signatures with the real session's), and records
everything sent in ``sent``, so a test can run a command in-process (``cli(argv,
session_factory=fake.factory)``) and assert on its output, exit code and what went out,
without a server.  :meth:`FakeSession.drop` (or ``drop_after_writes``) takes the stream away
as a dying server would.  Protocol behaviour (what a server does with a stanza) stays in
tests/integration against real servers.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from xmppctl.config import Account
from xmppctl.errors import ConnectionFailure, ServerRefused
from xmppctl.roster.items import RosterItem, item_element, parse_item
from xmppctl.xmpp.ns import ROSTER_NS

PING = "{urn:xmpp:ping}ping"
DISCO_INFO = "{http://jabber.org/protocol/disco#info}query"
BLOCKING_NS = "urn:xmpp:blocking"


@dataclass
class FakeSession:
    """An account's session against an imaginary server that applies roster sets at once."""

    bare_jid: str = "me@example.org"
    roster: dict[str, RosterItem] = field(default_factory=dict)
    #: JID -> stanza error condition: roster sets and removals of that JID are refused
    refuse: dict[str, str] = field(default_factory=dict)
    features: set[tuple[str, str]] = field(default_factory=set)
    #: ("roster-set", RosterItem) | ("roster-remove", jid) | ("presence", {...}) | ("subscription", to, kind)
    #: | ("block" | "unblock", [jid, ...])
    sent: list[tuple] = field(default_factory=list)
    #: keyword arguments of each session opened (stanza_hook, subscriptions_expected)
    opened: list[dict[str, Any]] = field(default_factory=list)
    #: bare JIDs with a pending inbound subscription request, redelivered on initial presence
    pending_in: list[str] = field(default_factory=list)
    #: presence stanzas (attributes, e.g. {"from": "bob@example.org/phone"}) our initial presence brings
    answers: list[dict[str, str]] = field(default_factory=list)
    #: XEP-0191 block list (bare JIDs or domains); None: the server does not offer blocking
    blocklist: list[str] | None = None
    #: the account's --timeout (the factory takes a --timeout given on the command line)
    timeout: float = 10.0
    #: the stream goes away when a roster write beyond this many is attempted (None: never)
    drop_after_writes: int | None = None
    #: True once the stream went away (:meth:`drop`)
    dropped: bool = False
    _closed: asyncio.Future | None = field(default=None, repr=False)

    @classmethod
    def with_roster(cls, *items: RosterItem, **kwargs: Any) -> FakeSession:
        return cls(roster={i.jid: i for i in items}, **kwargs)

    # -- what a Session offers ------------------------------------------------------------

    @property
    def closed(self) -> asyncio.Future:
        """Resolved once the stream went away (:meth:`drop`); one future per event loop."""
        loop = asyncio.get_running_loop()
        if self._closed is None or self._closed.get_loop() is not loop:
            self._closed = loop.create_future()
            if self.dropped:
                self._closed.set_result(None)
        return self._closed

    @property
    def jid(self) -> str:
        return self.bare_jid + "/xmppctl-fake"

    @property
    def account(self) -> Account:
        return Account(self.bare_jid, timeout=self.timeout)

    def login_facts(self) -> dict[str, Any]:
        """What the real session reads from its transport: nothing is known about this one."""
        return {"target": None, "found": None, "tls_mode": None, "address": None, "port": None,
                "tls_version": None, "tls_cipher": None, "sasl_mechanism": None}

    def has_feature(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.features

    def drop(self) -> None:
        """The stream goes away, as when the server stops: ``closed`` resolves, and every later
        send raises ConnectionFailure, as the real session's do."""
        self.dropped = True
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def _alive(self, what: str) -> None:
        if self.dropped:
            raise ConnectionFailure(f"connection lost before {what}")

    def _roster_answer(self, result: ET.Element) -> ET.Element:
        """A roster get's answer, as a server gives it: every item with its groups, state and extensions."""
        query = ET.SubElement(result, f"{{{ROSTER_NS}}}query")
        for item in sorted(self.roster.values(), key=lambda i: i.jid):
            el = item_element(item)
            el.set("subscription", item.subscription)
            if item.ask:
                el.set("ask", "subscribe")
            query.append(el)
        return result

    async def _roster_set(self, item: RosterItem, what: str) -> None:
        self._write(item.jid, what)
        self.sent.append(("roster-set", item))
        old = self.roster.get(item.jid)
        # what the server stores is what went over the wire (item_element): extensions included
        stored = parse_item(item_element(item))
        self.roster[item.jid] = replace(stored, subscription=old.subscription if old else "none", ask=bool(old and old.ask))

    async def _roster_remove(self, jid: str, what: str) -> None:
        self._write(jid, what)
        self.sent.append(("roster-remove", jid))
        if self.roster.pop(jid, None) is None:
            raise ServerRefused(f"server refused {what}: item-not-found", condition="item-not-found")

    def _write(self, jid: str, what: str) -> None:
        self._alive(what)
        if self.drop_after_writes is not None and len(self.roster_writes()) >= self.drop_after_writes:
            self.drop()
            raise ConnectionFailure(f"connection lost during {what}")
        if jid in self.refuse:
            condition = self.refuse[jid]
            raise ServerRefused(f"server refused {what}: {condition}", condition=condition)

    def send_presence(self, *, to: str | None = None, type: str | None = None, show: str | None = None,
                      status: str | None = None, priority: int | None = None) -> None:
        self._alive("presence")
        self.sent.append(("presence", {"to": to, "type": type, "show": show, "status": status, "priority": priority}))

    def send_initial_presence(self, priority: int, *, show: str | None = None, status: str | None = None) -> None:
        self.send_presence(show=show, status=status, priority=priority)
        hook = self.opened[-1].get("stanza_hook") if self.opened else None
        if hook is not None:  # what a server sends back: the pending requests, the probe answers
            for attrs in [{"from": jid, "type": "subscribe"} for jid in self.pending_in] + self.answers:
                hook(ET.Element("{jabber:client}presence", attrs))

    def send_subscription(self, to: str, kind: str, *, nick: str | None = None, message: str | None = None,
                          payload: ET.Element | None = None) -> None:
        self._alive(f"{kind} to {to}")
        self.sent.append(("subscription", to, kind))
        if kind in ("subscribed", "unsubscribed") and to in self.pending_in:
            self.pending_in.remove(to)
        if kind == "subscribe" and to in self.roster:
            self.roster[to] = replace(self.roster[to], ask=True)

    async def keep_offline_messages_stored(self) -> bool:
        self._alive("offline-message disco")
        return False

    async def query(self, iq_type: str, payload: ET.Element | None = None, *, to: str | None = None,
                    timeout: float | None = None, what: str = "request") -> ET.Element:
        self._alive(what)
        result = ET.Element("{jabber:client}iq", {"type": "result"})
        tag = payload.tag if payload is not None else None
        if tag == PING:
            return result
        if tag == f"{{{ROSTER_NS}}}query":  # RFC 6121 §2: one item per set
            if iq_type == "get":
                return self._roster_answer(result)
            item = payload.find(f"{{{ROSTER_NS}}}item")
            if item is not None and item.get("subscription") == "remove":
                await self._roster_remove(item.get("jid", ""), what)
            elif item is not None:
                await self._roster_set(parse_item(item), what)
            return result
        if tag == DISCO_INFO and to == self.bare_jid.partition("@")[2] and self.blocklist is not None:
            ET.SubElement(ET.SubElement(result, DISCO_INFO), DISCO_INFO.replace("query", "feature"), {"var": BLOCKING_NS})
            return result
        if tag is not None and tag.startswith(f"{{{BLOCKING_NS}}}") and self.blocklist is not None:
            return self._blocking(iq_type, payload, result)
        raise ServerRefused(f"server refused {what}: feature-not-implemented", condition="feature-not-implemented")

    def _blocking(self, iq_type: str, payload: ET.Element, result: ET.Element) -> ET.Element:
        """XEP-0191: get the list, or block/unblock the items (unblock without items: all)."""
        action = payload.tag.rpartition("}")[2]
        if (iq_type, action) == ("get", "blocklist"):
            listing = ET.SubElement(result, payload.tag)
            for jid in self.blocklist:
                ET.SubElement(listing, f"{{{BLOCKING_NS}}}item", {"jid": jid})
            return result
        jids = [item.get("jid") for item in payload]
        self.sent.append((action, jids))
        if action == "block":
            self.blocklist += [j for j in jids if j not in self.blocklist]
        else:
            self.blocklist[:] = [j for j in self.blocklist if jids and j not in jids]
        return result

    # -- the CLI seam ---------------------------------------------------------------------

    def factory(self, state: Any, **kwargs: Any) -> Any:
        """``State.session_factory``: every command's session is this fake (with its --timeout)."""
        if getattr(state, "timeout", None) is not None:
            self.timeout = state.timeout
        return self._open(kwargs)

    @asynccontextmanager
    async def _open(self, kwargs: dict[str, Any]):
        self.opened.append(kwargs)
        yield self

    # -- for assertions -------------------------------------------------------------------

    def roster_writes(self) -> list[tuple]:
        return [s for s in self.sent if s[0] in ("roster-set", "roster-remove")]
