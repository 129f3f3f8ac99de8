"""The one-shot XMPP session: the only place a slixmpp client is built.

``open_session`` connects, negotiates TLS (required), authenticates, binds a random resource,
yields a :class:`Session`, and always closes the stream.  Each network phase (login, every
request, the close) has a deadline of ``account.timeout`` seconds.  slixmpp is imported here,
lazily, so ``--help`` never pays for it.

slixmpp traps handled here (see docs/protocol-notes.md): ``connect()`` retries forever (we stop
it at the first definite failure or at the deadline); a missing STARTTLS must not become
plaintext, and slixmpp starts a session even when the server skipped TLS and SASL, so the
session is trusted only once the transport really is TLS (or an allowed loopback peer) and
SASL really succeeded (SCRAM: with the server's signature checked); subscription requests
are never answered automatically; no initial presence is sent; exceptions in event handlers
are swallowed by slixmpp, so handlers only resolve futures that the caller awaits.
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
#: SCRAM, channel-bound variants first (used only where a binding exists: TLS <= 1.2, see
#: docs/protocol-notes.md); PLAIN only over TLS with a verified certificate (not with --insecure)
SCRAM_MECHS = ["SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1"]
SASL_MECHS = [*SCRAM_MECHS, "PLAIN"]
#: SCRAM iteration counts we compute: RFC 7677's minimum, and a cap that bounds the work a
#: hostile server can make us do (Hi() blocks the event loop; see docs/protocol-notes.md)
SCRAM_MIN_ITERATIONS = 4096
SCRAM_MAX_ITERATIONS = 1_000_000
PRESENCE_TAG = "{jabber:client}presence"
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
    #: who has seen us available and not unavailable since: the broadcast audience, and the
    #: targets of directed presence (RFC 6121 §4.5.1: they get unavailable before we close)
    _available_broadcast: bool = field(default=False, repr=False)
    _available_to: dict[str, None] = field(default_factory=dict, repr=False)

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
        self._note_presence(stanza.xml)
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

    def _note_presence(self, xml: ET.Element) -> None:
        if xml.tag != PRESENCE_TAG or xml.get("type") not in (None, "unavailable"):
            return
        available, to = xml.get("type") is None, xml.get("to")
        if to is None:
            self._available_broadcast = available
        elif available:
            self._available_to[to] = None
        else:
            self._available_to.pop(to, None)

    def send_unavailable(self) -> int:
        """RFC 6121 §4.5.1: unavailable to everyone we are still available to; how many were sent.

        The session's close path calls this, so every command that sent available presence
        ends it cleanly (servers otherwise record the dropped stream, e.g. ejabberd's last
        status "Stream reset by peer"); presences already ended are not repeated.
        """
        stanzas = []
        for to in [*self._available_to, *([None] if self._available_broadcast else [])]:
            p = self.client.Presence()
            p["type"] = "unavailable"
            if to is not None:
                p["to"] = to
            stanzas.append(p)
        for p in stanzas:
            self.send(p)
        return len(stanzas)


def _tls_context(account: Account) -> ssl.SSLContext:
    """The session's one TLS context, handed to slixmpp so that it builds none of its own.

    slixmpp's default context loads the system CA store twice (``create_default_context``, then
    ``set_default_verify_paths`` again), ~50 ms each; here it is loaded once, and not at all
    with --insecure, where nothing is verified.
    """
    if account.insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context()  # hostname check, CERT_REQUIRED, the system store
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


def is_loopback_address(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (``::ffff:127.0.0.1``); False for names."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.strip("[]").partition("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def check_plaintext_allowed(account: Account) -> None:
    """--allow-plaintext-loopback is refused (exit 2) unless the configured address is a loopback
    one.  This is the early check; the session checks the address it actually connected to."""
    from .errors import UsageError

    host = connect_host(account)[0] or account.jid.partition("@")[2]
    name = host.strip("[]")
    if not (is_loopback_address(name) or name.lower() in ("localhost", "localhost.")):
        raise UsageError(f"--allow-plaintext-loopback: {host} is not a loopback address; TLS is required")


def _tls_object(client: Any) -> ssl.SSLObject | None:
    """The TLS state of the connection as it is now: None when the transport is not TLS."""
    transport = client.transport
    return transport.get_extra_info("ssl_object") if transport is not None else None


def _peer_address(client: Any) -> str | None:
    transport = client.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    return str(peer[0]) if peer else None


def _transport_problem(client: Any, account: Account, where: str) -> XmppctlError | None:
    """Why this connection must not carry a login or a session: no TLS, unless plaintext is
    allowed and the peer we are really connected to (not the name we asked for) is loopback."""
    if _tls_object(client) is not None:
        return None
    if not account.allow_plaintext:
        return ConnectionFailure(f"{where} did not offer TLS; refusing to log in over plaintext")
    peer = _peer_address(client)
    if peer is None or not is_loopback_address(peer):
        return ConnectionFailure(f"{where}: connected to {peer}, which is not a loopback address; "
                                 "TLS is required (--allow-plaintext-loopback allows loopback only)")
    return None


def _install_security_callback(client: Any, account: Account, refuse: Callable[[str], None]) -> None:
    """Base slixmpp's SASL choices on the real transport, not on the features it has seen.

    slixmpp's default calls a stream "encrypted" once "starttls" appears among its negotiated
    features; we ask the transport.  Unencrypted SCRAM needs --allow-plaintext-loopback *and* a
    loopback peer; unencrypted PLAIN never happens.  ``xmppctl_refuse`` is how our SCRAM
    patches (see :func:`_patch_scram`) end the login.
    """
    plugin = client.plugin["feature_mechanisms"]
    default = plugin.security_callback

    def settings(values: Any) -> dict[str, Any]:
        result = default(values)
        tls = _tls_object(client)
        result["encrypted"] = tls is not None
        result["tls_version"] = tls.version() if tls is not None else None
        result["unencrypted_scram"] = _transport_problem(client, account, "") is None
        result["unencrypted_plain"] = False
        result["xmppctl_refuse"] = refuse
        return result

    plugin.security_callback = settings


def _scram_refuse(mech: Any, message: str) -> Exception:
    """Report a SCRAM refusal to the session (exit 3 at once) and return slixmpp's cancel.

    slixmpp answers a failed step with <abort/> and then waits for the server, which a hostile
    one never answers (or answers with <failure/>, upon which slixmpp tries the next
    mechanism); the session's security callback hands each mechanism a ``refuse`` function
    (see :func:`_install_security_callback`) that ends the login now, with our message.
    """
    from slixmpp.util.sasl.client import SASLCancelled

    report = (getattr(mech, "security_settings", None) or {}).get("xmppctl_refuse")
    if report is not None:
        report(message)
    return SASLCancelled(message)


def _patch_scram() -> None:
    """Harden slixmpp's SCRAM client (RFC 5802) in place; idempotent.

    - Hi() (which *is* PBKDF2-HMAC with the hash's output length) runs in hashlib's C PBKDF2
      instead of a Python loop (~40 ms of CPU per login at Prosody's 10 000 iterations), and
      only for SCRAM_MIN_ITERATIONS..SCRAM_MAX_ITERATIONS: a server asking 2**31 would freeze
      the process for many minutes (the event loop, so --timeout and SIGINT too), one asking
      for a handful makes the proof we send cheap to brute-force.
    - The client nonce comes from ``secrets`` (slixmpp uses the digits of ``random.random()``).
    - Every failure of a step (malformed message, wrong server signature, bad nonce) ends the
      login with exit 3 instead of an <abort/> a hostile server may never answer.
    """
    import hashlib

    from slixmpp.util.sasl.client import SASLCancelled
    from slixmpp.util.sasl.mechanisms import SCRAM

    if getattr(SCRAM, "_xmppctl_patched", False):
        return
    process_1, process = SCRAM.process_1, SCRAM.process

    def hi(self: Any, text: Any, salt: bytes, iterations: int) -> bytes:
        if not SCRAM_MIN_ITERATIONS <= iterations <= SCRAM_MAX_ITERATIONS:
            raise _scram_refuse(self, f"the server asked for {iterations} SCRAM iterations; refusing "
                                      f"(accepted: {SCRAM_MIN_ITERATIONS}..{SCRAM_MAX_ITERATIONS})")
        return hashlib.pbkdf2_hmac(self.hash().name, bytes(text), salt, iterations)

    def first_message(self: Any, challenge: bytes) -> bytes:
        process_1(self, challenge)
        # the nonce is the last attribute of client-first-message-bare ("n=user,r=NONCE")
        self.cnonce = secrets.token_urlsafe(24).encode()
        self.client_first_message_bare = self.client_first_message_bare.rpartition(b",r=")[0] + b",r=" + self.cnonce
        self.client_first_message = self.gs2_header + self.client_first_message_bare
        return self.client_first_message

    def checked_process(self: Any, challenge: bytes = b"") -> bytes:
        from slixmpp.util.sasl.client import SASLMutualAuthFailed

        try:
            return process(self, challenge)
        except SASLMutualAuthFailed:
            _scram_refuse(self, "the server's SCRAM signature is wrong: it does not know the password "
                                "(a man in the middle?)")
            raise  # slixmpp's own answer to it: disconnect
        except SASLCancelled as exc:
            raise _scram_refuse(self, f"SCRAM exchange refused: {exc.message}") from None
        except Exception as exc:  # malformed server message: slixmpp would swallow it and hang
            raise _scram_refuse(self, f"malformed SCRAM message from the server ({type(exc).__name__})") from None

    SCRAM.Hi = hi
    SCRAM.process_1 = first_message
    SCRAM.process = checked_process
    SCRAM._xmppctl_patched = True


def _scram_verified(client: Any) -> str | None:
    """Why the SASL success just reported cannot be trusted, or None if it can."""
    mech = client.plugin["feature_mechanisms"].mech
    name = getattr(mech, "name", "")
    if name.startswith("SCRAM-") and not getattr(mech, "_mutual_auth", False):
        return "the server reported SCRAM success without proving it knows the password"
    return None if name in SASL_MECHS else f"unexpected SASL mechanism {name!r}"


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


def _import_slixmpp() -> None:
    """Import slixmpp without pygments (~20 ms of CPU per command).

    At import time slixmpp.xmlstream.tostring builds a pygments XML highlighter when pygments
    is installed (it is: typer needs rich, rich needs pygments), for slixmpp's own test helpers
    only; when pygments cannot be imported it falls back to no highlighting.
    """
    if "slixmpp" in sys.modules or "pygments" in sys.modules:
        return
    sys.modules["pygments"] = None  # type: ignore[assignment]  # `import pygments` raises ImportError
    try:
        import slixmpp  # noqa: F401
    finally:
        if sys.modules.get("pygments", ...) is None:
            del sys.modules["pygments"]


def _new_client(account: Account, password: str) -> Any:
    """A slixmpp client for *account*, not yet connected, with our TLS context and settings."""
    _import_slixmpp()
    from slixmpp import ClientXMPP

    _patch_scram()
    resource = "xmppctl-" + secrets.token_hex(4)
    client = ClientXMPP(
        f"{account.jid}/{resource}",
        password,
        plugin_config={"feature_mechanisms": {
            "use_mechs": list(SCRAM_MECHS if account.insecure else SASL_MECHS),
            # only with --allow-plaintext-loopback (checked before we get here); PLAIN stays refused
            "unencrypted_scram": account.allow_plaintext,
        }},
        ssl_context=_tls_context(account),
    )
    client.auto_authorize = None  # never answer subscription requests on our own
    client.auto_subscribe = False
    client.whitespace_keepalive = False
    client.enable_plaintext = account.allow_plaintext
    client.enable_starttls = account.tls == "starttls"
    client.enable_direct_tls = account.tls == "direct"
    client.use_ipv6 = True
    return client


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
    client = _new_client(account, password)

    host, port = connect_host(account)
    where = f"{host or account.jid.partition('@')[2]}:{port}" if host else account.jid.partition("@")[2]

    loop = asyncio.get_running_loop()
    session: Session | None = None
    login: asyncio.Future = loop.create_future()
    closed: asyncio.Future = loop.create_future()
    features: set[tuple[str, str]] = set()
    state = {"phase": "connecting", "auth_failed": None, "sasl": False}

    def fail(exc: XmppctlError) -> None:
        if not login.done():
            login.set_exception(exc)

    if keeper is None:
        keeper = StrayKeeper(account.jid, stderr_report)

    def refuse(exc: XmppctlError) -> None:
        # Drop the connection before slixmpp reads the server's next word: after a refused
        # SCRAM step it would try the next mechanism, PLAIN included.
        fail(exc)
        loop.call_soon(client.abort)

    _install_security_callback(client, account, lambda message: refuse(AuthError(f"{where}: {message}")))

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

        return handler

    def on_auth_success(_: Any) -> None:
        state["phase"] = "binding a resource"
        problem = _scram_verified(client)
        state["sasl"] = problem is None
        if problem:
            refuse(AuthError(f"{where}: {problem}"))

    def on_session_start(_: Any) -> None:
        # slixmpp starts a session even when the server offered neither TLS nor SASL (bind only)
        skipped = None if state["sasl"] else AuthError(f"{where} skipped SASL authentication; refusing the session")
        problem = _transport_problem(client, account, where) or skipped
        if problem is not None:
            refuse(problem)
        elif not login.done():
            login.set_result(None)

    def on_failed_auth(stanza: Any) -> None:
        state["auth_failed"] = stanza["condition"] or "not-authorized"

    def on_failed_all_auth(_: Any) -> None:
        if state["auth_failed"]:
            fail(AuthError(f"authentication failed for {account.jid}: {state['auth_failed']}"))
        else:
            accepted = "SCRAM only, as the certificate is not verified" if account.insecure else "SCRAM, or PLAIN over TLS"
            fail(_transport_problem(client, account, where)
                 or AuthError(f"{where} offers no SASL mechanism we accept ({accepted})"))

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
    client.add_event_handler("auth_success", on_auth_success)
    client.add_event_handler("session_bind", on_phase("starting the session"))
    client.add_event_handler("session_start", on_session_start)
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
                if session is not None:
                    session.send_unavailable()
                await asyncio.wait_for(client.disconnect(wait=min(2.0, account.timeout)), min(3.0, account.timeout + 0.5))
            except (asyncio.TimeoutError, Exception):  # closing is best effort; never hang here
                client.abort()
        elif client.transport is not None:
            client.abort()
