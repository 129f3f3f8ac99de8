"""The one-shot XMPP session: the only place a slixmpp client is built.

``open_session`` connects, negotiates TLS (required), authenticates, binds a random resource,
yields a :class:`Session`, and always closes the stream.  Each network phase (login, every
request, the close) has a deadline of ``account.timeout`` seconds.  slixmpp is imported here,
lazily, so ``--help`` never pays for it.

slixmpp traps handled here (see shared/PROTOCOL.md): ``connect()`` retries forever (we stop
it at the first definite failure or at the deadline); a missing STARTTLS must not become
plaintext (only TLS transports, and SCRAM/PLAIN refuse an unencrypted stream, which we report
as a TLS failure); subscription requests are never answered automatically; no initial
presence is sent; exceptions in event handlers are swallowed by slixmpp, so handlers only
resolve futures that the caller awaits.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import socket
import ssl
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from .config import Account
from .errors import AuthError, ConnectionFailure, ServerRefused, TimeoutFailure, XmppctlError
from .strays import StrayKeeper, stderr_report

log = logging.getLogger("xmppctl.session")

STREAM_NS = "http://etherx.jabber.org/streams"
ROSTER_QUERY = "{jabber:iq:roster}query"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
OFFLINE_NODE = "http://jabber.org/protocol/offline"
_HANDLED = ET.Element("{urn:xmppctl:internal}handled")
SASL_MECHS = ["SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
_SASL_ELEMENTS = re.compile(r"(<(auth|response|challenge|success)\b[^>]*>)[^<]+(</\2>)")


class RedactingFilter(logging.Filter):
    """Removes SASL payloads and the password from every log record (for ``--debug``)."""

    def __init__(self, secrets_: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets_ if s]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record must not break the trace
            text = str(record.msg)
        text = _SASL_ELEMENTS.sub(r"\1[redacted]\3", text)
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        record.msg, record.args = text, None
        if record.exc_info:
            record.exc_text = None
        return True


def configure_logging(debug: bool, password: str | None) -> None:
    """Route slixmpp's logging: a redacted XML trace on stderr with --debug, silence otherwise."""
    root = logging.getLogger("slixmpp")
    ours = logging.getLogger("xmppctl")
    # asyncio warns on stderr (via logging's last-resort handler) when a transport dies under
    # pending writes; the command reports the lost connection itself, once.
    aio = logging.getLogger("asyncio")
    aio.handlers.clear()
    aio.propagate = False
    aio.addHandler(logging.StreamHandler(sys.stderr) if debug else logging.NullHandler())
    for logger in (root, ours):
        logger.handlers.clear()
        logger.propagate = False
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)-5s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter([password or ""]))
        for logger in (root, ours):
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
    else:
        for logger in (root, ours):
            logger.addHandler(logging.NullHandler())
            logger.setLevel(logging.CRITICAL + 1)


def _connection_error(err: Any, where: str) -> XmppctlError:
    if isinstance(err, ssl.SSLCertVerificationError):
        return ConnectionFailure(f"TLS certificate of {where} not trusted: {err.verify_message or err.reason}")
    if isinstance(err, ssl.SSLError):
        return ConnectionFailure(f"TLS handshake with {where} failed: {err.reason or err}")
    if isinstance(err, ConnectionRefusedError):
        return ConnectionFailure(f"connection to {where} refused")
    if isinstance(err, socket.gaierror) or (isinstance(err, str) and "DNS" in err):
        return ConnectionFailure(f"cannot resolve {where}")
    if isinstance(err, OSError):
        return ConnectionFailure(f"cannot connect to {where}: {err.strerror or err}")
    return ConnectionFailure(f"cannot connect to {where}: {err}")


def stanza_error(element: ET.Element) -> tuple[str, str]:
    """(condition, text) of an ``<error/>`` child of a stanza element."""
    error = element.find("{jabber:client}error")
    if error is None:
        return "undefined-condition", ""
    condition, text = "undefined-condition", ""
    for child in error:
        name = child.tag.rpartition("}")[2]
        if name == "text":
            text = child.text or ""
        elif child.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}"):
            condition = name
    return condition, text


class _ConnectionLost(Exception):
    """Set on pending IQ futures when the stream goes away."""


@dataclass
class Session:
    """A logged-in, bound stream.  Commands use it; they never build slixmpp clients."""

    client: Any
    account: Account
    jid: str
    #: (namespace, element name) of every stream feature the server offered after login
    features: set[tuple[str, str]] = field(default_factory=set)
    closed: asyncio.Future = field(default=None)  # type: ignore[assignment]
    _pending: set = field(default_factory=set, repr=False)

    @property
    def timeout(self) -> float:
        return self.account.timeout

    @property
    def bare_jid(self) -> str:
        return self.account.jid

    def has_feature(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.features

    def make_iq(self, iq_type: str, payload: ET.Element | None = None, to: str | None = None) -> Any:
        iq = self.client.Iq()
        iq["type"] = iq_type
        if to:
            iq["to"] = to
        if payload is not None:
            iq.xml.append(payload)
        return iq

    async def request(self, iq: Any, *, timeout: float | None = None, what: str = "request") -> ET.Element:
        """Send an IQ and return the result's XML; raise ServerRefused / TimeoutFailure / ConnectionFailure."""
        from slixmpp.exceptions import IqError, IqTimeout

        if self.closed.done():
            raise ConnectionFailure(f"connection lost before {what}")
        limit = self.timeout if timeout is None else timeout
        # slixmpp's own per-IQ timer enforces our deadline; a lost connection fails every
        # pending request at once (see _fail_pending) instead of each one racing two futures.
        pending = iq.send(timeout=limit)
        self._pending.add(pending)
        try:
            return (await pending).xml
        except IqError as exc:
            condition, text = stanza_error(exc.iq.xml)
            message = f"server refused {what}: {condition}" + (f" ({text})" if text else "")
            raise ServerRefused(message, condition=condition) from None
        except IqTimeout:
            raise TimeoutFailure(f"no answer to {what} within {limit:g} s") from None
        except _ConnectionLost:
            raise ConnectionFailure(f"connection lost during {what}") from None
        finally:
            self._pending.discard(pending)

    def _fail_pending(self) -> None:
        for fut in list(self._pending):
            if not fut.done():
                fut.set_exception(_ConnectionLost())

    def send(self, stanza: Any) -> None:
        if self.closed.done():
            raise ConnectionFailure("connection lost")
        stanza.send()

    async def keep_offline_messages_stored(self) -> bool:
        """Ask for XEP-0013 flexible offline retrieval; True when the server confirmed it.

        Sent before the initial presence, a disco#info query to the offline node tells a
        XEP-0013 server (ejabberd) that this client retrieves stored messages itself, so the
        initial presence that follows (even at priority >= 0) does not flush them to this
        session: they stay stored for the user's real client.  A server without XEP-0013
        (Prosody 0.12) answers with an error and False is returned.
        """
        query = ET.Element(f"{{{DISCO_INFO_NS}}}query", {"node": OFFLINE_NODE})
        try:
            result = await self.request(self.make_iq("get", query), what="offline-message disco")
        except ServerRefused:
            return False
        answer = result.find(f"{{{DISCO_INFO_NS}}}query")
        if answer is None:
            return False
        return any(f.get("var") == OFFLINE_NODE for f in answer.iter(f"{{{DISCO_INFO_NS}}}feature")) or any(
            i.get("category") == "automation" and i.get("type") == "message-list"
            for i in answer.iter(f"{{{DISCO_INFO_NS}}}identity"))

    def send_initial_presence(self, priority: int, *, show: str | None = None, status: str | None = None) -> None:
        """Broadcast available presence.  A priority >= 0 may make the server hand stored
        offline messages to this session (kept by the StrayKeeper); callers choose -1 unless
        they need otherwise (see docs/protocol-notes.md, "Offline messages")."""
        p = self.client.Presence()
        if show:
            p["show"] = show
        if status:
            p["status"] = status
        p["priority"] = priority
        self.send(p)


def _configure_tls(ctx: ssl.SSLContext, account: Account) -> ssl.SSLContext:
    """Adjust slixmpp's default context (system store, hostname check) for this account."""
    if account.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if account.ca_file:
        try:
            ctx.load_verify_locations(cafile=account.ca_file)
        except (OSError, ssl.SSLError) as exc:
            from .errors import UsageError

            raise UsageError(f"--ca-file {account.ca_file}: cannot load: {getattr(exc, 'strerror', None) or exc}") from None
    return ctx


def connect_host(account: Account) -> tuple[str | None, int]:
    """(host, port) to connect to; host None means SRV lookup / the JID's domain."""
    host = account.server or (account.jid.partition("@")[2] if account.port else None)
    return host, account.port or (5223 if account.tls == "direct" else 5222)


def check_plaintext_allowed(account: Account) -> None:
    """--allow-plaintext-loopback is refused (exit 2) unless the address is a loopback one."""
    import ipaddress

    from .errors import UsageError

    host = connect_host(account)[0] or account.jid.partition("@")[2]
    name = host.strip("[]")
    try:
        loopback = ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = name.lower() in ("localhost", "localhost.")
    if not loopback:
        raise UsageError(f"--allow-plaintext-loopback: {host} is not a loopback address; TLS is required")


def _use_c_pbkdf2() -> None:
    """Make slixmpp's SCRAM key derivation use hashlib's C PBKDF2.

    slixmpp computes SCRAM's Hi() (RFC 5802 §2.2, which *is* PBKDF2-HMAC with the hash's
    output length) in a Python loop: ~40 ms of CPU per login at Prosody's 10 000 iterations,
    a sixth of a whole `roster list`.  Same function, same bytes, done in C.
    """
    import hashlib

    from slixmpp.util.sasl.mechanisms import SCRAM

    if getattr(SCRAM, "_xmppctl_c_pbkdf2", False):
        return

    def hi(self: Any, text: Any, salt: bytes, iterations: int) -> bytes:
        return hashlib.pbkdf2_hmac(self.hash().name, bytes(text), salt, iterations)

    SCRAM.Hi = hi
    SCRAM._xmppctl_c_pbkdf2 = True


def _answer_roster_push(client: Any, xml: ET.Element, bare: str) -> None:
    """RFC 6121 §2.1.6: acknowledge a roster push; refuse one from anyone but our server/account."""
    from xml.sax.saxutils import quoteattr

    sender = xml.get("from", "")
    iq_id = quoteattr(xml.get("id", ""))
    if sender and sender.partition("/")[0].lower() != bare:
        to = quoteattr(sender)
        client.send_raw(
            f"<iq type='error' id={iq_id} to={to}><error type='cancel'>"
            "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        )
        return
    client.send_raw(f"<iq type='result' id={iq_id}/>")


@asynccontextmanager
async def open_session(
    account: Account,
    password: str,
    *,
    stanza_hook: Callable[[ET.Element], None] | None = None,
    keeper: StrayKeeper | None = None,
) -> AsyncIterator[Session]:
    """Log in as *account*; yield a :class:`Session`; close the stream on the way out.

    *stanza_hook*, if given, sees every incoming top-level element (raw XML) before slixmpp
    handles it; commands that collect presences use it instead of slixmpp events so that
    nothing is lost or answered behind their back.  Every incoming message, and every
    subscription request the command does not expect, goes to *keeper* (by default one that
    reports on stderr and keeps messages in the keep file, see :mod:`xmppctl.strays`).
    """
    from slixmpp import ClientXMPP

    _use_c_pbkdf2()
    resource = "xmppctl-" + secrets.token_hex(4)
    client = ClientXMPP(
        f"{account.jid}/{resource}",
        password,
        plugin_config={"feature_mechanisms": {
            "use_mechs": list(SASL_MECHS),
            # only with --allow-plaintext-loopback (checked before we get here); PLAIN stays refused
            "unencrypted_scram": account.allow_plaintext,
        }},
    )
    _configure_tls(client.ssl_context, account)
    client.auto_authorize = None  # never answer subscription requests on our own
    client.auto_subscribe = False
    client.whitespace_keepalive = False
    client.enable_plaintext = account.allow_plaintext
    client.enable_starttls = account.tls == "starttls"
    client.enable_direct_tls = account.tls == "direct"
    client.use_ipv6 = True

    host, port = connect_host(account)
    where = f"{host or account.jid.partition('@')[2]}:{port}" if host else account.jid.partition("@")[2]

    loop = asyncio.get_running_loop()
    session: Session | None = None
    login: asyncio.Future = loop.create_future()
    closed: asyncio.Future = loop.create_future()
    features: set[tuple[str, str]] = set()
    state = {"phase": "connecting", "auth_failed": None, "encrypted": False}

    def fail(exc: XmppctlError) -> None:
        if not login.done():
            login.set_exception(exc)

    if keeper is None:
        keeper = StrayKeeper(account.jid, stderr_report)

    def incoming(xml: ET.Element) -> ET.Element:
        # Messages never reach slixmpp's handlers (which would drop them): the keeper keeps them.
        if keeper(xml):
            return _HANDLED
        if xml.tag == "{jabber:client}iq" and xml.get("type") == "set" and xml.find(ROSTER_QUERY) is not None:
            _answer_roster_push(client, xml, account.jid)
            if stanza_hook is not None and login.done():
                stanza_hook(xml)
            # Answered: hand slixmpp an inert element so none of its handlers answers again.
            return _HANDLED
        if xml.tag == f"{{{STREAM_NS}}}features":
            features.clear()
            for child in xml:
                ns, _, name = child.tag[1:].partition("}")
                features.add((ns, name))
        elif stanza_hook is not None and login.done():
            stanza_hook(xml)
        return xml

    client.incoming_filter = incoming
    # slixmpp's own roster-push handler rebuilds its roster cache per push (~0.15 ms each, and
    # a 1000-contact import brings 1000 pushes); we keep no cache, so we answer pushes above.
    client.remove_handler("Roster Update")

    def on_phase(name: str) -> Callable[[Any], None]:
        def handler(_: Any) -> None:
            state["phase"] = name
            if name in ("TLS negotiated",):
                state["encrypted"] = True

        return handler

    def on_failed_auth(stanza: Any) -> None:
        state["auth_failed"] = stanza["condition"] or "not-authorized"

    def on_failed_all_auth(_: Any) -> None:
        if state["auth_failed"]:
            fail(AuthError(f"authentication failed for {account.jid}: {state['auth_failed']}"))
        elif not state["encrypted"]:
            fail(ConnectionFailure(f"{where} did not offer TLS; refusing to log in over plaintext"))
        else:
            fail(AuthError(f"{where} offers no SASL mechanism we accept (SCRAM or PLAIN over TLS)"))

    def on_stream_error(err: Any) -> None:
        condition = err["condition"] or "undefined-condition"
        text = err["text"]
        fail(ConnectionFailure(f"{where} closed the stream: {condition}" + (f" ({text})" if text else "")))

    def on_disconnected(_: Any) -> None:
        if not closed.done():
            closed.set_result(None)
        if session is not None:
            session._fail_pending()
        # A TLS or SASL failure often arrives just after the connection drops: give the
        # specific error a moment to win over this generic one.
        phase = state["phase"]
        loop.call_later(0.05, fail, ConnectionFailure(f"{where} closed the connection while {phase}"))

    client.add_event_handler("connected", on_phase("waiting for the stream header"))
    client.add_event_handler("tls_success", on_phase("TLS negotiated"))
    client.add_event_handler("auth_success", on_phase("binding a resource"))
    client.add_event_handler("session_bind", on_phase("starting the session"))
    client.add_event_handler("session_start", lambda _: login.done() or login.set_result(None))
    client.add_event_handler("failed_auth", on_failed_auth)
    client.add_event_handler("failed_all_auth", on_failed_all_auth)
    client.add_event_handler("connection_failed", lambda err: fail(_connection_error(err, where)))
    client.add_event_handler("ssl_invalid_chain", lambda err: fail(_connection_error(err, where)))
    client.add_event_handler("stream_error", on_stream_error)
    client.add_event_handler("disconnected", on_disconnected)

    log.debug("connecting to %s as %s (tls=%s)", where, account.jid, account.tls)
    client.connect(host, port) if host else client.connect()
    try:
        try:
            await asyncio.wait_for(asyncio.shield(login), account.timeout)
        except asyncio.TimeoutError:
            raise TimeoutFailure(f"{where} did not complete login within {account.timeout:g} s (while {state['phase']})") from None
        session = Session(client=client, account=account, jid=str(client.boundjid), features=set(features), closed=closed)
        keeper.session_jid = session.jid
        yield session
    finally:
        client.cancel_connection_attempt()
        logged_in = login.done() and not login.cancelled() and login.exception() is None
        if logged_in and not closed.done() and client.transport is not None:
            try:
                await asyncio.wait_for(client.disconnect(wait=min(2.0, account.timeout)), min(3.0, account.timeout + 0.5))
            except (asyncio.TimeoutError, Exception):  # closing is best effort; never hang here
                client.abort()
        elif client.transport is not None:
            client.abort()
