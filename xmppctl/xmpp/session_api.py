"""What a command may do with a session: the :class:`SessionAPI` protocol.

The real :class:`xmppctl.xmpp.session.Session` implements it over slixmpp; the test suite's fake
session (an in-memory roster) implements it too, and a test compares the two signature by
signature, so a command that runs against the fake runs against a server the same way.
Library functions that take a session are annotated with this protocol, not with the class.
The wire knows no roster items: the roster layer sends its IQs with :meth:`SessionAPI.query`
(xmppctl/roster/items.py).

Kept free of slixmpp and of asyncio at import time (only annotations name them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio
    import xml.etree.ElementTree as ET

    from ..config import Account


class SessionAPI(Protocol):
    """A logged-in, bound stream of one account: the only way anything is sent."""

    @property
    def jid(self) -> str:
        """The full JID the server bound (with its resource)."""

    @property
    def bare_jid(self) -> str:
        """The account's bare JID."""

    @property
    def account(self) -> Account:
        """The account this session logged in as (its settings, without the password's source)."""

    @property
    def timeout(self) -> float:
        """Seconds each network wait may take (``--timeout``)."""

    @property
    def closed(self) -> asyncio.Future:
        """Resolves when the stream goes away; every later send raises ConnectionFailure."""

    def login_facts(self) -> dict[str, Any]:
        """target (host:port), found (SRV, XEP-0368, fallback, --server, --port), tls_mode, address,
        port, tls_version, tls_cipher, sasl_mechanism of this login (None where unknown)."""

    def has_feature(self, namespace: str, name: str) -> bool:
        """Whether the server offered the stream feature (*namespace*, *name*) after login."""

    async def query(self, iq_type: str, payload: ET.Element | None = None, *, to: str | None = None,
                    timeout: float | None = None, what: str = "request") -> ET.Element:
        """Send an IQ and return the result's XML; ServerRefused, TimeoutFailure or ConnectionFailure."""

    def send_presence(self, *, to: str | None = None, type: str | None = None, show: str | None = None,
                      status: str | None = None, priority: int | None = None) -> None:
        """Available (*type* None) or unavailable presence, broadcast or directed to *to*."""

    def send_initial_presence(self, priority: int, *, show: str | None = None, status: str | None = None) -> None:
        """Broadcast available presence (priority >= 0 may flush offline messages: see README)."""

    def send_subscription(self, to: str, kind: str, *, nick: str | None = None, message: str | None = None,
                          payload: ET.Element | None = None) -> None:
        """A subscription presence (subscribe, subscribed, unsubscribe, unsubscribed) to the bare JID *to*,
        carrying *payload* (an extension element such as XEP-0283's ``<moved/>``) when given."""

    async def keep_offline_messages_stored(self) -> bool:
        """XEP-0013: ask the server to keep offline messages stored; True when it confirmed."""
