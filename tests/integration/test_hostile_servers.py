"""Hostile servers: listeners that try to get a session, or the password, without earning it.

Each is the scripted ``FakeServer`` of test_faults.py taught a few more moves: skip STARTTLS or
SASL and offer only <bind/>, offer only PLAIN to a client that cannot verify the certificate,
play SCRAM with absurd iteration counts or without knowing the password.  The server records
everything the client sent (decrypted), so the tests can check that no command stanza and no
password left the client.  xmppctl must exit 4 (no TLS) or 3 (no real SASL) with one line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field

import pytest

from tests.support.helpers import User
from tests.integration.test_faults import (  # noqa: F401  (certs is a fixture)
    BIND,
    CLIENT_HEADER,
    DOMAIN,
    STARTTLS,
    STREAM_HEADER,
    FakeServer,
    _Endpoint,
    certs,
)

PASSWORD = "fake-password-Zq81"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
ROSTER_RESULT = ("<query xmlns='jabber:iq:roster'><item jid='leaked@localhost' subscription='both'/></query>")
ROSTER_GET = b"jabber:iq:roster"
IQ_END = re.compile(rb"</iq>|<iq\b[^>]*/>|</stream:stream>")
SASL_ANSWER = re.compile(rb"</response>|<response\b[^>]*/>|<abort\b[^>]*/>|</abort>")


def _features(*children: str) -> bytes:
    return f"<stream:features>{''.join(children)}</stream:features>".encode()


def _mechanisms(names: tuple[str, ...]) -> str:
    return f"<mechanisms xmlns='{SASL_NS}'>" + "".join(f"<mechanism>{m}</mechanism>" for m in names) + "</mechanisms>"


def _sasl(element: str, payload: bytes | None = None) -> bytes:
    if payload is None:
        return f"<{element} xmlns='{SASL_NS}'/>".encode()
    return f"<{element} xmlns='{SASL_NS}'>{base64.b64encode(payload).decode()}</{element}>".encode()


def _payload(element: bytes) -> bytes:
    text = re.search(rb">([^<]*)<", element)
    return base64.b64decode(text.group(1)) if text and text.group(1).strip(b"=") else b""


def _attributes(message: bytes) -> dict[bytes, bytes]:
    return dict(part.split(b"=", 1) for part in message.split(b","))


@dataclass
class HostileServer(FakeServer):
    """A FakeServer whose login script is set by the fields below (``stall_at`` is unused).

    starttls / direct_tls: how TLS is offered (neither: plaintext).  mechanisms: the SASL
    mechanisms offered; () skips SASL and offers <bind/> at once.  PLAIN is accepted blindly
    (a man in the middle collecting passwords); SCRAM-SHA-1[-PLUS] is played for real with the
    password of ``fake_user``, with *iterations*, and *proof*: "valid" (a genuine server),
    "wrong" (a wrong server signature), "empty" (<success/> without one) or "early"
    (<success/> straight after <auth/>, carrying the server-first message).  With
    *failure_after_challenge* the challenge is followed at once by <failure/>, in one write.
    """

    starttls: bool = True
    direct_tls: bool = False
    mechanisms: tuple[str, ...] = ("SCRAM-SHA-1",)
    iterations: int = 4096
    proof: str = "valid"
    tls_max: ssl.TLSVersion | None = None
    failure_after_challenge: bool = False
    #: what the client put in its SCRAM messages
    gs2_header: bytes | None = None
    channel_binding: bytes | None = None
    #: this side's tls-unique, to compare with what the client bound to
    tls_unique: bytes | None = None
    aborted: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tls_max is not None:
            self._ctx.maximum_version = self.tls_max

    def _wrap(self, conn):
        conn = self._ctx.wrap_socket(conn, server_side=True)
        self._conns.append(conn)
        if conn.version() != "TLSv1.3":
            self.tls_unique = conn.get_channel_binding("tls-unique")
        return conn

    def _restart(self, conn, buf: bytearray, n: int) -> bytearray:
        buf = bytearray()
        self._read_until(conn, CLIENT_HEADER, buf)
        conn.sendall(STREAM_HEADER.format(n=n).encode())
        return buf

    def _serve(self, conn, n: int) -> None:
        buf = bytearray()
        try:
            if self.direct_tls:
                conn = self._wrap(conn)
            self._read_until(conn, CLIENT_HEADER, buf)
            conn.sendall(STREAM_HEADER.format(n=n).encode())
            if self.starttls and not self.direct_tls:
                conn.sendall(_features(STARTTLS))
                self._read_until(conn, b"/>", buf)
                conn.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
                conn = self._wrap(conn)
                buf = self._restart(conn, bytearray(), n)
            if self.mechanisms:
                conn.sendall(_features(_mechanisms(self.mechanisms)))
                if not self._authenticate(conn, buf):
                    return self._idle(conn)
                buf = self._restart(conn, buf, n)
            conn.sendall(_features(BIND))
            self._answer_iqs(conn, buf, n)
        except (OSError, ssl.SSLError, ConnectionError, ValueError):
            return

    def _answer_iqs(self, conn, buf: bytearray, n: int) -> None:
        """Bind, a roster with one contact, and an empty result for anything else."""
        while True:
            data = self._read_until(conn, IQ_END, buf)
            if data.endswith(b"</stream:stream>"):
                self.closed_by_client.set()
                conn.sendall(b"</stream:stream>")
                return
            iq_id = re.findall(rb"<iq\b[^>]*\bid=['\"]([^'\"]+)", data)[-1].decode()
            last_iq = data[data.rindex(b"<iq"):]
            if b"urn:ietf:params:xml:ns:xmpp-bind" in last_iq:
                body = f"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>fake@{DOMAIN}/r{n}</jid></bind>"
            elif ROSTER_GET in last_iq:
                body = ROSTER_RESULT
            else:
                body = ""
            conn.sendall(f"<iq type='result' id='{iq_id}'>{body}</iq>".encode())

    def _authenticate(self, conn, buf: bytearray) -> bool:
        auth = self._read_until(conn, re.compile(rb"</auth>|<auth\b[^>]*/>"), buf)
        mechanism = re.search(rb"mechanism=['\"]([^'\"]+)", auth).group(1).decode()
        if mechanism == "PLAIN":
            conn.sendall(_sasl("success"))
            return True
        client_first = _payload(auth)
        flag, authzid, bare = client_first.split(b",", 2)
        self.gs2_header = flag + b"," + authzid + b","
        salt = os.urandom(16)
        server_first = (b"r=" + _attributes(bare)[b"r"] + b"3rfcNHYJY1ZVvWVs7j,s=" + base64.b64encode(salt)
                        + b",i=" + str(self.iterations).encode())
        if self.proof == "early":
            conn.sendall(_sasl("success", server_first))
            return True
        failure = f"<failure xmlns='{SASL_NS}'><not-authorized/></failure>".encode()
        conn.sendall(_sasl("challenge", server_first) + (failure if self.failure_after_challenge else b""))
        answer = self._read_until(conn, SASL_ANSWER, buf)
        if b"abort" in answer:
            self.aborted.set()
            conn.sendall(f"<failure xmlns='{SASL_NS}'><aborted/></failure>".encode())
            return False
        client_final = _payload(answer)
        without_proof = client_final[: client_final.index(b",p=")]
        self.channel_binding = base64.b64decode(_attributes(without_proof)[b"c"])[len(self.gs2_header):]
        if self.proof == "valid":
            salted = hashlib.pbkdf2_hmac("sha1", PASSWORD.encode(), salt, self.iterations)
            server_key = hmac.digest(salted, b"Server Key", "sha1")
            signature = hmac.digest(server_key, bare + b"," + server_first + b"," + without_proof, "sha1")
            conn.sendall(_sasl("success", b"v=" + base64.b64encode(signature)))
        elif self.proof == "wrong":
            conn.sendall(_sasl("success", b"v=" + base64.b64encode(os.urandom(20))))
        else:
            conn.sendall(_sasl("success"))
        return True


@pytest.fixture
def hostile(certs):
    servers: list[HostileServer] = []

    def make(cert: str = "good", **script) -> HostileServer:
        crt, key = certs[cert]
        server = HostileServer("never", crt, key, **script)
        servers.append(server)
        return server

    yield make
    for s in servers:
        try:  # wakes the accept() thread, so close() does not wait for its join timeout
            s._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


@pytest.fixture
def roster_list(run_cli):
    """``roster list -o json`` against a scripted server, in-process (the server is a thread)."""
    def run(server: HostileServer, certs, *extra: str):
        user = User(_Endpoint(server.port, certs["ca"]), "fake", PASSWORD)
        return run_cli(user, "--timeout", "5", *extra, "roster", "list", "-o", "json")

    return run


def _client_sasl_payloads(received: bytes) -> list[bytes]:
    return [base64.b64decode(p) for p in re.findall(rb"<(?:auth|response)\b[^>]*>([^<]+)<", received)]


def _no_command_sent(server: HostileServer, r) -> None:
    assert ROSTER_GET not in server.received, "a command stanza went to an unauthenticated server"
    assert "leaked@localhost" not in r.stdout
    errors = [line for line in r.stderr.splitlines() if not line.startswith("xmppctl: warning:")]
    assert len(errors) == 1, r.stderr  # one clear line


# ---- a session needs TLS and SASL ---------------------------------------------------------


def test_a_genuine_scram_server_gets_a_session(roster_list, hostile, certs):
    # The control for everything below: the scripted server is a correct SCRAM peer.
    server = hostile()
    r = roster_list(server, certs)
    assert r.code == 0, r.stderr
    assert [x["jid"] for x in r.json()] == ["leaked@localhost"]


@pytest.mark.parametrize("script, extra, code, message", [
    ({"starttls": False}, (), 4, "TLS"),
    ({"starttls": False}, ("--allow-plaintext-loopback",), 3, "SASL"),
    ({"starttls": True}, (), 3, "SASL"),
    ({"direct_tls": True}, ("--tls", "direct"), 3, "SASL"),
], ids=["plaintext", "plaintext-allowed-on-loopback", "starttls", "direct-tls"])
def test_bind_only_server_gets_no_session(roster_list, hostile, certs, script, extra, code, message):
    server = hostile(mechanisms=(), **script)
    r = roster_list(server, certs, *extra)
    assert r.code == code, r.stderr
    assert message in r.stderr.strip().splitlines()[-1]
    _no_command_sent(server, r)


@pytest.mark.parametrize("proof", ["wrong", "empty", "early"])
def test_scram_success_without_a_valid_server_signature_is_refused(roster_list, hostile, certs, proof):
    server = hostile(proof=proof)
    r = roster_list(server, certs)
    assert r.code == 3, r.stderr
    assert "SCRAM" in r.stderr
    _no_command_sent(server, r)


# ---- passwords to unverified servers --------------------------------------------------------


def test_insecure_never_offers_plain_to_an_unverified_server(roster_list, hostile, certs):
    server = hostile(cert="wrong", mechanisms=("PLAIN",))  # a MITM with a certificate nobody signed
    r = roster_list(server, certs, "--insecure")
    assert r.code == 3, r.stderr
    assert "SCRAM" in r.stderr.strip().splitlines()[-1]
    assert b"<auth" not in server.received
    assert PASSWORD.encode() not in server.received
    assert base64.b64encode(b"\0fake\0" + PASSWORD.encode()) not in server.received


@pytest.mark.parametrize("iterations", [1, 4095, 1_000_001, 2**31])
def test_scram_iteration_count_out_of_bounds_is_refused_before_the_proof(roster_list, hostile, certs, iterations):
    # PLAIN is offered too: slixmpp falls back to the next mechanism when a SCRAM step fails
    server = hostile(iterations=iterations, mechanisms=("SCRAM-SHA-1", "PLAIN"))
    r = roster_list(server, certs)  # 2**31 would take ~20 min of PBKDF2: the 60 s guard would fire
    assert r.code == 3, r.stderr
    assert f"{iterations} SCRAM iterations" in r.stderr
    assert not any(b"p=" in p for p in _client_sasl_payloads(server.received)), "the proof was sent"
    assert server.received.count(b"<auth") == 1 and PASSWORD.encode() not in server.received
    _no_command_sent(server, r)


def test_no_other_mechanism_is_tried_after_a_refused_scram_step(roster_list, hostile, certs):
    # slixmpp handles a <failure/> by trying the next mechanism at once, in the same read as
    # the challenge we refused: the connection must be gone before that attempt is written.
    server = hostile(iterations=1, mechanisms=("SCRAM-SHA-1", "PLAIN"), failure_after_challenge=True)
    r = roster_list(server, certs)
    assert r.code == 3, r.stderr
    assert "1 SCRAM iterations" in r.stderr
    assert server.received.count(b"<auth") == 1 and PASSWORD.encode() not in server.received


def test_scram_channel_binding_is_used_over_tls_1_2(roster_list, hostile, certs):
    server = hostile(mechanisms=("SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"), tls_max=ssl.TLSVersion.TLSv1_2)
    r = roster_list(server, certs)
    assert r.code == 0, r.stderr
    assert b'mechanism="SCRAM-SHA-1-PLUS"' in server.received
    assert server.gs2_header == b"p=tls-unique,,"
    assert server.channel_binding == server.tls_unique and server.tls_unique


def test_scram_without_channel_binding_over_tls_1_3_says_so(roster_list, hostile, certs):
    # Python 3.11 has no tls-exporter and tls-unique is undefined for TLS 1.3: plain SCRAM,
    # with the gs2 flag 'n' ("client does not support channel binding"), not a fake binding.
    server = hostile(mechanisms=("SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"))
    r = roster_list(server, certs)
    assert r.code == 0, r.stderr
    assert b'mechanism="SCRAM-SHA-1"' in server.received
    assert server.gs2_header == b"n,,"
    assert server.channel_binding == b""


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # UDP: nothing is sent; picks the outgoing interface
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


def test_plaintext_loopback_checks_the_address_actually_connected_to(hostile, certs, run_cli, monkeypatch):
    """DNS (or /etc/hosts, or SRV) may send 'localhost' elsewhere: the peer address decides."""
    address = _non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback interface to listen on")
    with socket.create_server((address, 0)) as listener:  # a plaintext server offering SCRAM
        port = listener.getsockname()[1]
        received = bytearray()

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                while b"<stream:stream" not in received and (chunk := conn.recv(4096)):
                    received.extend(chunk)
                conn.sendall(STREAM_HEADER.format(n=1).encode() + _features(_mechanisms(("SCRAM-SHA-1",))))
                while chunk := conn.recv(4096):
                    received.extend(chunk)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(address if host == "localhost" else host, *a, **k))
        r = run_cli(None, "--jid", f"fake@{DOMAIN}", "--server", "localhost", "--port", str(port), "--timeout", "5",
                    "--allow-plaintext-loopback", "roster", "list", env={"XMPPCTL_PASSWORD": PASSWORD})
        thread.join(5)
    assert r.code == 4, r.stderr
    assert "not a loopback address" in r.stderr and address in r.stderr
    assert b"<auth" not in received
