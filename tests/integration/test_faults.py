"""Fault injection: stalls, bad certificates, plaintext, concurrency, signals, --debug.

Stalls and certificate faults use a tiny scripted XMPP server (below) that speaks exactly as
far into the login as the fault needs, with certificates from the test servers' throwaway CA (tests/support/certs.py);
everything else runs against the real servers.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.helpers import User, run_subprocess
from tests.support import ProsodyServer, make_certs, sign_cert

DOMAIN = "localhost"
STREAM_HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    f"from='{DOMAIN}' id='fake{{n}}' version='1.0'>"
)
STARTTLS = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
MECHS = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
BIND = "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
CLIENT_HEADER = re.compile(rb"<stream:stream[^>]*>")


@dataclass
class FakeServer:
    """Scripted XMPP server on 127.0.0.1: plays the login up to *stall_at*, then goes silent.

    stall_at: "header" (after its stream header), "starttls" (after the TLS handshake),
    "sasl" (after the client's <auth/>), "request" (logged in; answers nothing after bind).
    With tls=False it offers SASL PLAIN on the plaintext stream (a server without TLS).
    Everything the client sent (decrypted) is kept in ``received``.
    """

    stall_at: str
    cert: Path
    key: Path
    tls: bool = True
    port: int = 0
    received: bytearray = field(default_factory=bytearray)
    closed_by_client: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self.port = self._sock.getsockname()[1]
        self._ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ctx.load_cert_chain(self.cert, self.key)
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop at once: shutdown() wakes the accept() and recv() calls (close() alone does not)."""
        self._stop.set()
        for s in (self._sock, *self._conns):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:  # not connected (any more)
                pass
            s.close()
        self._thread.join(5)
        assert not self._thread.is_alive(), "the fake server's accept thread did not stop"

    def _accept(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            n += 1
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, n), daemon=True).start()

    def _read_until(self, conn, pattern: re.Pattern | bytes, buf: bytearray) -> bytes:
        while True:
            m = pattern.search(buf) if isinstance(pattern, re.Pattern) else None
            if isinstance(pattern, bytes) and pattern in buf:
                i = buf.index(pattern) + len(pattern)
                data = bytes(buf[:i])
                del buf[:i]
                return data
            if m:
                data = bytes(buf[: m.end()])
                del buf[: m.end()]
                return data
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("client closed")
            self.received += chunk
            buf += chunk

    def _idle(self, conn) -> None:
        """Say nothing; keep reading so a clean close by the client is seen."""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(65536)
            except (OSError, ssl.SSLError):
                return
            if not chunk:
                return
            self.received += chunk
            if b"</stream:stream>" in self.received:
                self.closed_by_client.set()

    def _serve(self, conn: socket.socket, n: int) -> None:
        buf = bytearray()
        try:
            self._read_until(conn, CLIENT_HEADER, buf)
            conn.sendall(STREAM_HEADER.format(n=n).encode())
            if self.stall_at == "header":
                return self._idle(conn)
            if self.tls:
                conn.sendall(f"<stream:features>{STARTTLS}</stream:features>".encode())
                self._read_until(conn, b"/>", buf)  # <starttls .../>
                conn.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
                conn = self._ctx.wrap_socket(conn, server_side=True)
                self._conns.append(conn)
                buf = bytearray()
                if self.stall_at == "starttls":
                    return self._idle(conn)
                self._read_until(conn, CLIENT_HEADER, buf)
                conn.sendall(STREAM_HEADER.format(n=n).encode())
            conn.sendall(f"<stream:features>{MECHS}</stream:features>".encode())
            self._read_until(conn, b"</auth>", buf)
            if self.stall_at == "sasl":
                return self._idle(conn)
            conn.sendall(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
            buf = bytearray()
            self._read_until(conn, CLIENT_HEADER, buf)
            conn.sendall((STREAM_HEADER.format(n=n) + f"<stream:features>{BIND}</stream:features>").encode())
            bind = self._read_until(conn, b"</iq>", buf).decode()
            iq_id = re.search(r"id=['\"]([^'\"]+)", bind).group(1)
            conn.sendall(f"<iq type='result' id='{iq_id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                         f"<jid>fake@{DOMAIN}/r{n}</jid></bind></iq>".encode())
            self._idle(conn)
        except (OSError, ssl.SSLError, ConnectionError, AttributeError):
            return


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA plus good, expired and wrong-host certificates, all issued by that CA."""
    d = tmp_path_factory.mktemp("fault-certs")
    ca = make_certs(d, DOMAIN)
    sign_cert(d, "expired", d / "expired.key", d / "expired.crt", sans=[f"DNS:{DOMAIN}", "IP:127.0.0.1"],
              not_before="20200101000000Z", not_after="20210101000000Z")
    sign_cert(d, "wrong.example", d / "wrong.key", d / "wrong.crt", sans=["DNS:wrong.example"])
    return {"ca": ca, "good": (d / f"{DOMAIN}.crt", d / f"{DOMAIN}.key"),
            "expired": (d / "expired.crt", d / "expired.key"), "wrong": (d / "wrong.crt", d / "wrong.key")}


@pytest.fixture
def fake_server(certs):
    servers = []

    def make(stall_at: str, cert: str = "good", tls: bool = True) -> FakeServer:
        crt, key = certs[cert]
        server = FakeServer(stall_at, crt, key, tls=tls)
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.close()


@dataclass
class _Endpoint:
    port: int
    ca_file: Path
    domain: str = DOMAIN


def fake_user(server: FakeServer, ca: Path) -> User:
    return User(_Endpoint(server.port, ca), "fake", "fake-password-Zq81")


@pytest.mark.parametrize("stall_at", ["header", "starttls", "sasl"])
def test_server_stalling_during_login_exits_5_at_the_timeout(fake_server, certs, run_cli, stall_at):
    server = fake_server(stall_at)
    r = run_cli(fake_user(server, certs["ca"]), "--timeout", "1.5", "roster", "list")
    assert r.code == 5, r.stderr
    assert "within 1.5 s" in r.stderr
    # the deadline, never the 10 s default or slixmpp's endless retries (a loose upper bound:
    # a loaded machine must not fail it)
    assert 1.5 <= r.elapsed < 8
    if stall_at == "sasl":
        assert b"<auth" in server.received  # it really got that far


@pytest.mark.parametrize("cert, reason", [("expired", "expired"), ("wrong", "localhost")])
def test_bad_server_certificate_exits_4_before_any_credentials(fake_server, certs, run_cli, cert, reason):
    server = fake_server("sasl", cert=cert)
    r = run_cli(fake_user(server, certs["ca"]), "--timeout", "5", "roster", "list")
    assert r.code == 4, r.stderr
    assert "certificate" in r.stderr and reason in r.stderr
    assert b"<auth" not in server.received


def test_plaintext_server_offering_plain_is_refused_without_sending_the_password(fake_server, certs, run_cli):
    server = fake_server("sasl", tls=False)
    user = fake_user(server, certs["ca"])
    r = run_cli(user, "--timeout", "5", "roster", "list")
    assert r.code == 4, r.stderr
    assert "TLS" in r.stderr
    assert b"<auth" not in server.received


@pytest.fixture(scope="module")
def plaintext_prosody(tmp_path_factory):
    server = ProsodyServer(tmp_path_factory.mktemp("prosody-plain"), tls="off")
    server.start()
    yield server
    server.stop()


def test_real_plaintext_only_server_is_refused_with_4(plaintext_prosody, run_cli):
    plaintext_prosody.register("plain", "plain-password-1")
    user = User(plaintext_prosody, "plain", "plain-password-1")
    r = run_cli(user, "--timeout", "5", "roster", "list")
    assert r.code == 4, r.stderr
    assert "did not offer TLS" in r.stderr


def test_plaintext_on_loopback_only_when_explicitly_allowed(plaintext_prosody, run_cli):
    plaintext_prosody.register("plain2", "plain-password-2")
    user = User(plaintext_prosody, "plain2", "plain-password-2")
    r = run_cli(user, "--allow-plaintext-loopback", "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json() == [] and "unencrypted" in r.stderr


def test_allow_plaintext_refuses_a_non_loopback_address_before_connecting(run_cli):
    # 192.0.2.1 (TEST-NET-1) is never contacted: the check comes first
    r = run_cli(None, "--jid", "a@example.org", "--server", "192.0.2.1", "--allow-plaintext-loopback",
                "roster", "list", env={"XMPPCTL_PASSWORD": "x"})
    assert r.code == 2, r.stderr
    assert "not a loopback address" in r.stderr


def test_two_processes_on_one_account_both_succeed_with_distinct_resources(make_user):
    user = make_user()
    env = dict(os.environ, XMPPCTL_PASSWORD=user.password)
    argv = [sys.executable, "-m", "xmppctl", *user.args, "--debug", "roster", "list", "-o", "json"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
    bound = [set(re.findall(rf"<jid>{re.escape(user.jid)}/([^<]+)</jid>", err)) for _, err in outs]
    assert all(len(b) == 1 for b in bound), bound
    assert bound[0] != bound[1]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_a_request_exits_130_and_closes_the_stream(fake_server, certs, signum):
    server = fake_server("request")  # logs in, then never answers the roster request
    user = fake_user(server, certs["ca"])
    env = dict(os.environ, XMPPCTL_PASSWORD=user.password)
    proc = subprocess.Popen([sys.executable, "-m", "xmppctl", *user.args, "--timeout", "20", "roster", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 10
        while b"jabber:iq:roster" not in server.received:  # the long operation is under way
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else "no roster request"
            time.sleep(0.02)
        t0 = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert out == ""
    assert time.monotonic() - t0 < 10  # at once, not at the 20 s deadline
    assert server.closed_by_client.wait(2), "xmppctl did not send </stream:stream>"


def test_debug_trace_of_a_full_login_leaks_no_secret(make_user):
    user = make_user()
    r = run_subprocess(user, "--debug", "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr[-2000:]
    trace = r.stderr
    assert "<auth" in trace and "<success" in trace  # the SASL exchange was traced, redacted
    assert user.password not in trace
    # SCRAM: client-first (n,,n=user,r=...), client-final (c=biws,r=...,p=PROOF), server v=...
    import base64

    for payload in re.findall(r"<(?:auth|response|challenge|success)\b[^>]*>([^<]+)<", trace):
        assert payload == "[redacted]", payload
    for token in re.findall(r"[A-Za-z0-9+/=]{16,}", trace):
        try:
            decoded = base64.b64decode(token, validate=True).decode("utf-8", "replace")
        except ValueError:
            continue
        assert "p=" not in decoded and "n=" + user.name not in decoded and user.password not in decoded



def _interrupt_fake_client(server: FakeServer, ca: Path, ready, signum: int, *, repeat: bool) -> None:
    """Run `roster list` against *server*; once ready(proc) holds, send *signum* (again and again
    until the process is gone with *repeat*); it must end with "interrupted" and exit 130."""
    user = fake_user(server, ca)
    env = dict(os.environ, XMPPCTL_PASSWORD=user.password)
    proc = subprocess.Popen([sys.executable, "-m", "xmppctl", *user.args, "--timeout", "20", "roster", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 20
        while not ready(proc):
            assert proc.poll() is None, f"ended before the signal: {proc.communicate()[1][-1000:]}"
            assert time.monotonic() < deadline, "the moment to signal never came"
            time.sleep(0.001)
        proc.send_signal(signum)
        while repeat and proc.poll() is None:
            time.sleep(0.001)
            proc.send_signal(signum)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-1000:]
    assert "interrupted" in err and "Traceback" not in err


def _importing_extension_modules(proc: subprocess.Popen) -> bool:
    """The child maps its first C extension module: Python is up and importing the CLI's libraries."""
    try:
        return "lib-dynload/" in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_the_cli_is_still_importing_exits_130(fake_server, certs, signum):
    """Importing typer and slixmpp takes a moment before any event loop runs; a signal then is no
    different: "interrupted", exit 130 (not a KeyboardInterrupt traceback or a death by signal)."""
    _interrupt_fake_client(fake_server("request"), certs["ca"], _importing_extension_modules, signum, repeat=False)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_more_signals_while_the_first_is_handled_still_exit_130(fake_server, certs, signum):
    """A user pressing Ctrl-C again (or a supervisor repeating SIGTERM) while the session closes and
    "interrupted" is printed: the exit stays 130, never a death by the later signal."""
    server = fake_server("request")
    _interrupt_fake_client(server, certs["ca"], lambda _proc: b"jabber:iq:roster" in server.received, signum,
                           repeat=True)
