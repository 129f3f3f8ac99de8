"""A stand-in for :class:`xmppctl.session.Session` with an in-memory roster, for CLI tests.

It implements the session API the commands use (roster_get/set/remove, send_presence,
send_subscription, query, ...) and records everything sent in ``sent``, so a test can run a
command in-process (``main(argv, session_factory=fake.factory)``) and assert on its output,
exit code and what went out, without a server.  Protocol behaviour (what a server does with
a stanza) stays in tests/integration against real servers.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from xmppctl.errors import ServerRefused
from xmppctl.roster import RosterItem

PING = "{urn:xmpp:ping}ping"


@dataclass
class FakeAccount:
    jid: str
    timeout: float = 10.0


@dataclass
class FakeSession:
    """An account's session against an imaginary server that applies roster sets at once."""

    bare_jid: str = "me@example.org"
    roster: dict[str, RosterItem] = field(default_factory=dict)
    #: JID -> stanza error condition: roster sets and removals of that JID are refused
    refuse: dict[str, str] = field(default_factory=dict)
    features: set[tuple[str, str]] = field(default_factory=set)
    #: ("roster-set", RosterItem) | ("roster-remove", jid) | ("presence", {...}) | ("subscription", to, kind)
    sent: list[tuple] = field(default_factory=list)
    #: keyword arguments of each session opened (stanza_hook, subscriptions_expected)
    opened: list[dict[str, Any]] = field(default_factory=list)
    #: bare JIDs with a pending inbound subscription request, redelivered on initial presence
    pending_in: list[str] = field(default_factory=list)
    #: presence stanzas (attributes, e.g. {"from": "bob@example.org/phone"}) our initial presence brings
    answers: list[dict[str, str]] = field(default_factory=list)
    _closed: asyncio.Future | None = field(default=None, repr=False)

    @classmethod
    def with_roster(cls, *items: RosterItem, **kwargs: Any) -> FakeSession:
        return cls(roster={i.jid: i for i in items}, **kwargs)

    # -- what a Session offers ------------------------------------------------------------

    @property
    def closed(self) -> asyncio.Future:
        """Never resolved: this stream does not go away (one future per event loop)."""
        loop = asyncio.get_running_loop()
        if self._closed is None or self._closed.get_loop() is not loop:
            self._closed = loop.create_future()
        return self._closed

    @property
    def jid(self) -> str:
        return self.bare_jid + "/xmppctl-fake"

    @property
    def account(self) -> FakeAccount:
        return FakeAccount(self.bare_jid)

    @property
    def timeout(self) -> float:
        return self.account.timeout

    def has_feature(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.features

    async def roster_get(self) -> list[RosterItem]:
        """Sorted by JID, groups sorted and unique: as parsed from a server's answer."""
        items = sorted(self.roster.values(), key=lambda i: i.jid)
        return [replace(i, groups=tuple(sorted(set(i.groups)))) for i in items]

    async def roster_set(self, item: RosterItem, *, what: str | None = None) -> None:
        self._check(item.jid, what or f"roster set for {item.jid}")
        self.sent.append(("roster-set", item))
        old = self.roster.get(item.jid)
        self.roster[item.jid] = replace(item, subscription=old.subscription if old else "none", ask=bool(old and old.ask))

    async def roster_remove(self, jid: str, *, what: str | None = None) -> None:
        self._check(jid, what or f"roster remove {jid}")
        self.sent.append(("roster-remove", jid))
        if self.roster.pop(jid, None) is None:
            raise ServerRefused(f"server refused {what}: item-not-found", condition="item-not-found")

    def _check(self, jid: str, what: str) -> None:
        if jid in self.refuse:
            condition = self.refuse[jid]
            raise ServerRefused(f"server refused {what}: {condition}", condition=condition)

    def send_presence(self, *, to: str | None = None, type: str | None = None, show: str | None = None,
                      status: str | None = None, priority: int | None = None) -> None:
        self.sent.append(("presence", {"to": to, "type": type, "show": show, "status": status, "priority": priority}))

    def send_initial_presence(self, priority: int, *, show: str | None = None, status: str | None = None) -> None:
        self.send_presence(show=show, status=status, priority=priority)
        hook = self.opened[-1].get("stanza_hook") if self.opened else None
        if hook is not None:  # what a server sends back: the pending requests, the probe answers
            for attrs in [{"from": jid, "type": "subscribe"} for jid in self.pending_in] + self.answers:
                hook(ET.Element("{jabber:client}presence", attrs))

    def send_subscription(self, to: str, kind: str, *, nick: str | None = None, message: str | None = None,
                          payload: Any = None) -> None:
        self.sent.append(("subscription", to, kind))
        if kind in ("subscribed", "unsubscribed") and to in self.pending_in:
            self.pending_in.remove(to)
        if kind == "subscribe" and to in self.roster:
            self.roster[to] = replace(self.roster[to], ask=True)

    async def keep_offline_messages_stored(self) -> bool:
        return False

    async def query(self, iq_type: str, payload: ET.Element | None = None, *, to: str | None = None,
                    timeout: float | None = None, what: str = "request") -> ET.Element:
        if payload is not None and payload.tag == PING:
            return ET.Element("{jabber:client}iq", {"type": "result"})
        raise ServerRefused(f"server refused {what}: feature-not-implemented", condition="feature-not-implemented")

    # -- the CLI seam ---------------------------------------------------------------------

    def factory(self, _state: Any, **kwargs: Any) -> Any:
        """``State.session_factory``: every command's session is this fake."""
        return self._open(kwargs)

    @asynccontextmanager
    async def _open(self, kwargs: dict[str, Any]):
        self.opened.append(kwargs)
        yield self

    # -- for assertions -------------------------------------------------------------------

    def roster_writes(self) -> list[tuple]:
        return [s for s in self.sent if s[0] in ("roster-set", "roster-remove")]
