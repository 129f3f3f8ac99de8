"""The one-shot XMPP session: the only place a slixmpp client is built.

``open_session`` connects, negotiates TLS (required), authenticates, binds a random resource,
yields a :class:`Session`, and always closes the stream.  Each network phase (login, every
request, the close) has a deadline of ``account.timeout`` seconds.  slixmpp is imported here,
lazily, so ``--help`` never pays for it.

slixmpp traps handled here (see docs/protocol-notes.md): ``connect()`` retries forever and its
resolver neither merges SRV kinds nor honours "." (we find the targets ourselves, see
:mod:`xmppctl.xmpp.connect`, hand slixmpp one address at a time and stop its retries); a missing STARTTLS must not become
plaintext, and slixmpp starts a session even when the server skipped TLS and SASL, so the
session is trusted only once the transport really is TLS (or an allowed loopback peer) and
SASL really succeeded (SCRAM: with the server's signature checked); subscription requests
are never answered automatically; no initial presence is sent; exceptions in event handlers
are swallowed by slixmpp, so handlers only resolve futures that the caller awaits; slixmpp's
serializer leaves tab/LF/CR raw in attributes, where the server's parser turns them into
spaces, so they are written as character references (``_patch_escape``).
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

from ..config import Account
from ..errors import AuthError, ConnectionFailure, ServerRefused, TimeoutFailure, XmppctlError
from .stanza import stanza_error
from .ns import CLIENT_NS, DISCO_INFO_NS, NICK_NS, OFFLINE_NODE, ROSTER_NS, STREAM_NS
from .connect import ADDRESS_TIMEOUT, Resolver, Target, Tried, attempt_label, connect_outcome, fixed_targets, srv_targets

log = logging.getLogger("xmppctl.xmpp.session")

ROSTER_QUERY = f"{{{ROSTER_NS}}}query"
_HANDLED = ET.Element("{urn:xmppctl:internal}handled")
#: SCRAM, channel-bound variants first (used only where a binding exists: TLS <= 1.2, see
#: docs/protocol-notes.md); PLAIN only over TLS with a verified certificate (not with --insecure)
SCRAM_MECHS = ["SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1"]
SASL_MECHS = [*SCRAM_MECHS, "PLAIN"]
#: SCRAM iteration counts we compute: RFC 7677's minimum, and a cap that bounds the work a
#: hostile server can make us do (Hi() blocks the event loop; see docs/protocol-notes.md)
SCRAM_MIN_ITERATIONS = 4096
SCRAM_MAX_ITERATIONS = 1_000_000
PRESENCE_TAG = f"{{{CLIENT_NS}}}presence"
#: presence types that are subscription requests and answers (RFC 6121 §3)
SUBSCRIPTION_KINDS = ("subscribe", "subscribed", "unsubscribe", "unsubscribed")
_SASL_ELEMENTS = re.compile(r"(<(auth|response|challenge|success)\b[^>]*>)[^<]+(</\2>)")


class RedactingFilter(logging.Filter):
    """Removes SASL payloads and passwords from every log record (for ``--debug``), its
    traceback and stack included.  One filter serves a whole run: each login adds its password
    (:meth:`add`), so a run over several accounts redacts all of them."""

    def __init__(self, secrets_: list[str]):
        super().__init__()
        self.secrets: list[str] = []
        for secret in secrets_:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and secret not in self.secrets:
            # longest first: a password that contains another is replaced whole
            self.secrets = sorted([*self.secrets, secret], key=len, reverse=True)

    def redact(self, text: str) -> str:
        text = _SASL_ELEMENTS.sub(r"\1[redacted]\3", text)
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record must not break the trace
            text = str(record.msg)
        record.msg, record.args = self.redact(text), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:  # the formatter prints exc_text as it is, instead of formatting exc_info again
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


#: the one redacting filter of this process: every password a login used is in it
_REDACTION = RedactingFilter([])


class TraceFormatter(logging.Formatter):
    """The --debug trace for a terminal: the server's text in a record cannot move the cursor
    or forge a line (escaped as in tables); a traceback keeps its lines, each escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        from ..text import safe_text

        return safe_text(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        from ..text import safe_lines

        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # printed as it is by the base class (escaping twice changes nothing)
            record.exc_text = safe_lines(record.exc_text)
        return super().format(record)

    def formatStack(self, stack_info: str) -> str:
        from ..text import safe_lines

        return safe_lines(stack_info)


def redact_trace(text: str) -> str:
    """*text* (a traceback the CLI prints with --debug) without any password a login used."""
    return _REDACTION.redact(text)


def configure_logging(debug: bool, password: str | None) -> None:
    """Route slixmpp's logging: a redacted XML trace on stderr with --debug, silence otherwise.

    Called once per login; *password* joins the passwords of the logins before it, which stay
    redacted (a fleet's sessions share the loggers).
    """
    _REDACTION.add(password)
    root = logging.getLogger("slixmpp")
    ours = logging.getLogger("xmppctl")
    # asyncio warns on stderr (via logging's last-resort handler) when a transport dies under
    # pending writes; the command reports the lost connection itself, once.
    aio = logging.getLogger("asyncio")
    aio.handlers.clear()
    aio.propagate = False
    if debug:
        trace = logging.StreamHandler(sys.stderr)
        trace.setFormatter(TraceFormatter())
        trace.addFilter(_REDACTION)
        aio.addHandler(trace)
    else:
        aio.addHandler(logging.NullHandler())
    for logger in (root, ours):
        logger.handlers.clear()
        logger.propagate = False
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(TraceFormatter("%(levelname)-5s %(name)s: %(message)s"))
        handler.addFilter(_REDACTION)
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


def peer_certificate_expiry(tls: Any) -> float | None:
    """The notAfter of the certificate the server presented, as a Unix time; None without TLS
    or when it was not verified (``--insecure``: the ssl module then decodes no certificate)."""
    try:
        cert = tls.getpeercert() if tls is not None else None
        return float(ssl.cert_time_to_seconds(cert["notAfter"])) if cert else None
    except (KeyError, ValueError, ssl.SSLError):
        return None


class _ConnectionLost(Exception):
    """Set on pending IQ futures when the stream goes away."""


@dataclass
class Session:
    """A logged-in, bound stream: the only way to send anything.

    Code outside this module never sees the slixmpp client: it sends IQs with :meth:`query`,
    presence with :meth:`send_presence` / :meth:`send_subscription`, and edits the roster
    through :meth:`query` (the roster layer builds its own IQs, xmppctl/roster/items.py).
    """

    _client: Any
    account: Account
    jid: str
    #: (namespace, element name) of every stream feature the server offered after login
    features: set[tuple[str, str]] = field(default_factory=set)
    closed: asyncio.Future = field(default=None)  # type: ignore[assignment]
    #: the host and port connected to, its TLS mode and how it was found (SRV, XEP-0368, ...)
    target: Target | None = None
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

    def login_facts(self) -> dict[str, Any]:
        """What the transport and the SASL layer say about this login: the target (host:port), how
        it was found and its TLS mode, peer address, TLS version and cipher, SASL mechanism
        (each None where the stream does not tell)."""
        transport = getattr(self._client, "transport", None)
        tls = transport.get_extra_info("ssl_object") if transport is not None else None
        peer = transport.get_extra_info("peername") if transport is not None else None
        try:
            mechanism = self._client.plugin["feature_mechanisms"].mech.name
        except (AttributeError, KeyError):
            mechanism = None
        target = self.target
        return {
            "target": attempt_label(target, None) if target is not None else None,
            "found": target.found if target is not None else None,
            "tls_mode": target.tls if target is not None else None,
            "address": str(peer[0]) if peer else None,
            "port": peer[1] if peer else None,
            "tls_version": tls.version() if tls is not None else None,
            "tls_cipher": (tls.cipher() or (None,))[0] if tls is not None else None,
            "sasl_mechanism": mechanism,
            "tls_not_after": peer_certificate_expiry(tls),
        }

    def has_feature(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.features

    def _make_iq(self, iq_type: str, payload: ET.Element | None = None, to: str | None = None) -> Any:
        iq = self._client.Iq()
        iq["type"] = iq_type
        if to:
            iq["to"] = to
        if payload is not None:
            iq.xml.append(payload)
        return iq

    async def query(self, iq_type: str, payload: ET.Element | None = None, *, to: str | None = None,
                    timeout: float | None = None, what: str = "request") -> ET.Element:
        """Send an IQ of *iq_type* carrying *payload* and return the result's XML.

        Raises ServerRefused (an error answer), TimeoutFailure (no answer within *timeout*,
        default the account's) or ConnectionFailure (the stream went away).
        """
        from slixmpp.exceptions import IqError, IqTimeout

        if self.closed.done():
            raise ConnectionFailure(f"connection lost before {what}")
        limit = self.timeout if timeout is None else timeout
        # slixmpp's own per-IQ timer enforces our deadline; a lost connection fails every
        # pending request at once (see _fail_pending) instead of each one racing two futures.
        pending = self._make_iq(iq_type, payload, to=to).send(timeout=limit)
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

    # ---- presence ------------------------------------------------------------------------

    def send_presence(self, *, to: str | None = None, type: str | None = None, show: str | None = None,
                      status: str | None = None, priority: int | None = None) -> None:
        """Send available (*type* None) or unavailable presence: broadcast, or directed to *to*.

        Values are sent as given: callers validate them first (slixmpp drops an invalid show
        silently and does not check the priority).  Every available presence is remembered and
        ended with unavailable when the session closes (:meth:`send_unavailable`).
        """
        if type not in (None, "available", "unavailable"):
            raise ValueError(f"send_presence: type {type!r} (subscriptions: send_subscription)")
        p = self._presence(to, None if type == "available" else type)
        if show and type != "unavailable":
            p["show"] = show
        if status:
            p["status"] = status
        if priority is not None:
            p["priority"] = priority
        self._send(p)

    def send_subscription(self, to: str, kind: str, *, nick: str | None = None, message: str | None = None,
                          payload: ET.Element | None = None) -> None:
        """Send a subscription presence (RFC 6121 §3) of *kind* to the bare JID *to*.

        *nick* (XEP-0172) and *message* (a status text) go only with ``subscribe``; *payload*
        (an extension element, e.g. XEP-0283's ``<moved/>``) with any kind.
        """
        if kind not in SUBSCRIPTION_KINDS:
            raise ValueError(f"send_subscription: kind {kind!r}, expected one of {', '.join(SUBSCRIPTION_KINDS)}")
        p = self._presence(to, kind)
        if kind == "subscribe" and message:
            p["status"] = message
        if kind == "subscribe" and nick:
            el = ET.Element(f"{{{NICK_NS}}}nick")
            el.text = nick
            p.xml.append(el)
        if payload is not None:
            p.xml.append(payload)
        self._send(p)

    def _presence(self, to: str | None, kind: str | None) -> Any:
        p = self._client.Presence()
        if to is not None:
            p["to"] = to
        if kind is not None:
            p["type"] = kind
        return p

    def _send(self, stanza: Any) -> None:
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
            result = await self.query("get", query, what="offline-message disco")
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
        self.send_presence(show=show, status=status, priority=priority)

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
        targets = [*self._available_to, *([None] if self._available_broadcast else [])]
        for to in targets:
            self._send(self._presence(to, "unavailable"))
        return len(targets)


#: one TLS context per (insecure, ca_file) in this process: loading the system CA store costs
#: ~40 ms of CPU, which a run over many accounts would otherwise pay once per session
_TLS_CONTEXTS: dict[tuple[bool, str | None], ssl.SSLContext] = {}


def _tls_context(account: Account) -> ssl.SSLContext:
    """The session's TLS context, handed to slixmpp so that it builds none of its own.

    slixmpp's default context loads the system CA store twice (``create_default_context``, then
    ``set_default_verify_paths`` again); here it is loaded once per process and settings, and
    not at all with --insecure, where nothing is verified.
    """
    key = (bool(account.insecure), account.ca_file)
    if key not in _TLS_CONTEXTS:
        _TLS_CONTEXTS[key] = _new_tls_context(account)
    return _TLS_CONTEXTS[key]


def _new_tls_context(account: Account) -> ssl.SSLContext:
    if account.insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if not account.ca_file:
        return ssl.create_default_context()  # hostname check, CERT_REQUIRED, the system store
    # --ca-file pins: its CAs *replace* the system store, as curl --cacert and openssl -CAfile
    # do (create_default_context loads no default certificates when given a cafile)
    try:
        return ssl.create_default_context(cafile=account.ca_file)
    except (OSError, ssl.SSLError) as exc:
        from ..errors import UsageError

        raise UsageError(f"--ca-file {account.ca_file}: cannot load: {getattr(exc, 'strerror', None) or exc}") from None


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
    from ..errors import UsageError

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


def _patch_escape() -> None:
    """Make slixmpp's serializer write tab, LF and CR as character references; idempotent.

    slixmpp escapes only ``& < > ' "``, so a roster name holding a newline or a tab (other
    clients store such names; a backup restores them) went out raw inside an attribute, and
    XML attribute-value normalisation turned it into a space on the server: the restored name
    differed from the saved one.  ``&#10;`` survives; in element text it means the same.
    """
    module = sys.modules["slixmpp.xmlstream.tostring"]
    if getattr(module.escape, "_xmppctl_patched", False):
        return
    original = module.escape
    refs = str.maketrans({"\t": "&#9;", "\n": "&#10;", "\r": "&#13;"})

    def escape(text: str, use_cdata: bool = False) -> str:
        out = original(text, use_cdata)
        return out if use_cdata else out.translate(refs)

    escape._xmppctl_patched = True  # type: ignore[attr-defined]
    module.escape = escape


def _make_client(account: Account, password: str) -> Any:
    """A slixmpp client for *account* that cannot fall back to plaintext or answer subscriptions,
    with the session's one TLS context."""
    _import_slixmpp()
    _patch_escape()
    from slixmpp import ClientXMPP

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


class _Login:
    """One connection attempt: the client, its event handlers, and the futures they resolve.

    slixmpp swallows exceptions raised in event handlers, so the handlers only record the
    phase and resolve ``login`` (bound and trusted, or the first definite failure) and
    ``closed`` (the stream went away); :meth:`start` and :meth:`close` await them.
    """

    def __init__(self, account: Account, password: str, stanza_hook: Callable[[ET.Element], None] | None,
                 keeper: Callable[[ET.Element], bool]):
        self.account, self.stanza_hook = account, stanza_hook
        self.keeper = keeper
        self.client = _make_client(account, password)
        self.domain = account.jid.partition("@")[2]
        #: what errors name: the domain while looking for the server, then host:port and address
        self.where = self.domain
        self.loop = asyncio.get_running_loop()
        self.login: asyncio.Future = self.loop.create_future()
        #: the connection attempt in progress: resolved with None (connected) or the error
        self.attempt: asyncio.Future | None = None
        self.tried = Tried(self.domain)
        self.target: Target | None = None  # once connected
        self.trying: tuple[Target, str] | None = None
        self.closed: asyncio.Future = self.loop.create_future()
        self.features: set[tuple[str, str]] = set()
        self.phase, self.auth_failed, self.sasl = "connecting", None, False
        self.session: Session | None = None
        _install_security_callback(self.client, account, lambda message: self.refuse(AuthError(f"{self.where}: {message}")))
        self.client.incoming_filter = self.incoming
        # slixmpp's own roster-push handler rebuilds its roster cache per push (~0.15 ms each, and
        # a 1000-contact import brings 1000 pushes); we keep no cache, so we answer pushes ourselves.
        self.client.remove_handler("Roster Update")
        self._add_handlers()

    def fail(self, exc: XmppctlError) -> None:
        if not self.login.done():
            self.login.set_exception(exc)

    def refuse(self, exc: XmppctlError) -> None:
        # Drop the connection before slixmpp reads the server's next word: after a refused
        # SCRAM step it would try the next mechanism, PLAIN included.
        self.fail(exc)
        self.loop.call_soon(self.client.abort)

    def incoming(self, xml: ET.Element) -> ET.Element:
        """Every incoming top-level element, before slixmpp's handlers see it."""
        # Messages never reach slixmpp's handlers (which would drop them): the keeper keeps them.
        if self.keeper(xml):
            return _HANDLED
        logged_in = self.stanza_hook is not None and self.login.done()
        if xml.tag == "{jabber:client}iq" and xml.get("type") == "set" and xml.find(ROSTER_QUERY) is not None:
            _answer_roster_push(self.client, xml, self.account.jid)
            if logged_in:
                self.stanza_hook(xml)  # type: ignore[misc]
            # Answered: hand slixmpp an inert element so none of its handlers answers again.
            return _HANDLED
        if xml.tag == f"{{{STREAM_NS}}}features":
            self.features.clear()
            for child in xml:
                ns, _, name = child.tag[1:].partition("}")
                self.features.add((ns, name))
        elif logged_in:
            self.stanza_hook(xml)  # type: ignore[misc]
            if xml.tag == PRESENCE_TAG:
                # The hook has it; slixmpp's presence handling (its roster cache, events we never
                # listen to) costs ~0.1 ms a stanza, and an initial presence brings the whole roster's.
                return _HANDLED
        return xml

    def _add_handlers(self) -> None:
        on = self.client.add_event_handler
        on("connected", self.on_connected)
        on("tls_success", self._phase("TLS negotiated"))
        on("auth_success", self.on_auth_success)
        on("session_bind", self._phase("starting the session"))
        on("session_start", self.on_session_start)
        on("failed_auth", self.on_failed_auth)
        on("failed_all_auth", self.on_failed_all_auth)
        on("connection_failed", self.on_connection_failed)
        on("ssl_invalid_chain", lambda err: self.fail(self.tls_failure(err)))
        on("stream_error", self.on_stream_error)
        on("disconnected", self.on_disconnected)

    def _phase(self, name: str) -> Callable[[Any], None]:
        def handler(_: Any) -> None:
            self.phase = name

        return handler

    def tls_failure(self, err: Any) -> XmppctlError:
        """A certificate that does not verify: names the domain, the host and address, and what
        was tried before (never a reason to try the next target)."""
        earlier = f" (before that tried {', '.join(self.tried.attempts)})" if self.tried.attempts else ""
        return ConnectionFailure(f"{self.domain}: {_connection_error(err, self.where).message}{earlier}")

    def on_connected(self, _: Any) -> None:
        self.phase = "waiting for the stream header"
        if self.attempt is not None and not self.attempt.done():
            self.attempt.set_result(None)

    def on_connection_failed(self, err: Any) -> None:
        if self.attempt is not None and not self.attempt.done():
            self.attempt.set_result(err)

    def on_auth_success(self, _: Any) -> None:
        self.phase = "binding a resource"
        problem = _scram_verified(self.client)
        self.sasl = problem is None
        if problem:
            self.refuse(AuthError(f"{self.where}: {problem}"))

    def on_session_start(self, _: Any) -> None:
        # slixmpp starts a session even when the server offered neither TLS nor SASL (bind only)
        skipped = None if self.sasl else AuthError(f"{self.where} skipped SASL authentication; refusing the session")
        problem = _transport_problem(self.client, self.account, self.where) or skipped
        if problem is not None:
            self.refuse(problem)
        elif not self.login.done():
            self.login.set_result(None)

    def on_failed_auth(self, stanza: Any) -> None:
        self.auth_failed = stanza["condition"] or "not-authorized"

    def on_failed_all_auth(self, _: Any) -> None:
        if self.auth_failed:
            self.fail(AuthError(f"authentication failed for {self.account.jid}: {self.auth_failed}"))
            return
        accepted = "SCRAM only, as the certificate is not verified" if self.account.insecure else "SCRAM, or PLAIN over TLS"
        self.fail(_transport_problem(self.client, self.account, self.where)
                  or AuthError(f"{self.where} offers no SASL mechanism we accept ({accepted})"))

    def on_stream_error(self, err: Any) -> None:
        condition = err["condition"] or "undefined-condition"
        text = err["text"]
        self.fail(ConnectionFailure(f"{self.where} closed the stream: {condition}" + (f" ({text})" if text else "")))

    def on_disconnected(self, _: Any) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if self.session is not None:
            self.session._fail_pending()
        # A TLS or SASL failure often arrives just after the connection drops: give the
        # specific error a moment to win over this generic one.
        lost = ConnectionFailure(f"{self.where} closed the connection while {self.phase}")
        self.loop.call_later(0.05, self.fail, lost)

    async def start(self) -> Session:
        """Find the server, connect, and wait for a trusted, bound session (or the first definite
        failure), all within the account's timeout."""
        timeout = self.account.timeout
        deadline = self.loop.time() + timeout
        try:
            await asyncio.wait_for(self._connect(), timeout)
            await asyncio.wait_for(asyncio.shield(self.login), max(deadline - self.loop.time(), 0))
        except asyncio.TimeoutError:
            if self.target is not None:
                raise TimeoutFailure(f"{self.where} did not complete login within {timeout:g} s "
                                     f"(while {self.phase})") from None
            if self.trying is not None:
                self.tried.add(*self.trying, "timed out")
            failure = self.tried.failure(f"no connection within {timeout:g} s")
            raise TimeoutFailure(failure.message, details=failure.details) from None
        self.session = Session(_client=self.client, account=self.account, jid=str(self.client.boundjid),
                               features=set(self.features), closed=self.closed, target=self.target)
        self.keeper.session_jid = self.session.jid
        return self.session

    async def _connect(self) -> None:
        """Try the targets (see :mod:`xmppctl.xmpp.connect`) address by address until one connects.

        slixmpp is handed one address and port at a time: its own resolver would ask only one
        kind of SRV record and fall back to the domain even when the records say "."; and a
        refused address must lead to the next one, not end the login.  A certificate that does
        not verify ends the login at once (trying elsewhere would hide an attack or a mistake).
        """
        targets = fixed_targets(self.account)
        resolver = Resolver()
        try:
            if targets is None:
                self.phase = "looking up SRV records"
                records, problems = await resolver.srv(self.domain)
                self.tried.notes += problems
                targets = srv_targets(self.domain, records, self.account)
            for t_index, target in enumerate(targets):
                self.phase = f"looking up {target.host}"
                try:
                    addresses = await resolver.addresses(target)
                except OSError as exc:
                    self.tried.add(target, None, str(exc))
                    continue
                for a_index, address in enumerate(addresses):
                    last = t_index == len(targets) - 1 and a_index == len(addresses) - 1
                    outcome = await self._attempt(target, address, None if last else ADDRESS_TIMEOUT)
                    if outcome is None:
                        return
                    self.tried.add(target, address, outcome)
                    log.debug("no connection: %s", self.tried.attempts[-1])
        finally:
            await resolver.close()
        raise self.tried.failure()

    async def _attempt(self, target: Target, address: str, timeout: float | None) -> str | None:
        """Connect to one address: None when connected, else the outcome to report."""
        log.debug("connecting to %s (%s, found by %s) as %s", attempt_label(target, address), target.tls,
                  target.found, self.account.jid)
        self.where, self.phase = attempt_label(target, address), "connecting"
        self.client.enable_direct_tls = target.direct_tls
        self.client.enable_starttls = not target.direct_tls
        self.attempt, self.trying = self.loop.create_future(), (target, address)
        self.client.connect(address, target.port)
        try:
            err = await asyncio.wait_for(asyncio.shield(self.attempt), timeout)
        except asyncio.TimeoutError:
            err = TimeoutError()
        self.trying = None
        if err is None:
            self.target = target
            return None
        self.client.cancel_connection_attempt()  # slixmpp would retry this address forever
        if isinstance(err, ssl.SSLCertVerificationError):
            raise self.tls_failure(err)
        return connect_outcome(err)

    async def close(self) -> None:
        """End any presence we sent, close the stream (best effort, bounded), or drop it."""
        client, timeout = self.client, self.account.timeout
        client.cancel_connection_attempt()
        logged_in = self.login.done() and not self.login.cancelled() and self.login.exception() is None
        if logged_in and not self.closed.done() and client.transport is not None:
            try:
                if self.session is not None:
                    self.session.send_unavailable()
                await asyncio.wait_for(client.disconnect(wait=min(2.0, timeout)), min(3.0, timeout + 0.5))
            except (asyncio.TimeoutError, Exception):  # closing is best effort; never hang here
                client.abort()
        elif client.transport is not None:
            client.abort()


@asynccontextmanager
async def open_session(
    account: Account,
    password: str,
    *,
    keeper: Callable[[ET.Element], bool],
    stanza_hook: Callable[[ET.Element], None] | None = None,
) -> AsyncIterator[Session]:
    """Log in as *account*; yield a :class:`Session`; close the stream on the way out.

    *stanza_hook*, if given, sees every incoming top-level element (raw XML) before slixmpp
    handles it; commands that collect presences use it instead of slixmpp events so that
    nothing is lost or answered behind their back.  Every incoming message, and every
    subscription request the command does not expect, goes to *keeper*, which returns True
    for what it consumed (a :class:`xmppctl.xmpp.keeper.StrayKeeper`: it keeps messages in the keep
    file and hands each event to the caller's report; the library never prints).
    """
    _patch_scram()
    attempt = _Login(account, password, stanza_hook, keeper)
    try:
        yield await attempt.start()
    finally:
        await attempt.close()
