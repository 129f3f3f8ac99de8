"""Remote text on stderr stays inert: a server's error text cannot forge lines or drive the terminal.

The scripted hostile server of test_hostile_servers.py answers a request with an IQ error, or
the stream header with a stream error (before TLS: anyone on the path can send it), whose
<text/> carries CR, LF, the C1 control U+009B (CSI) and a bidi override.  Every line xmppctl
writes must show them escaped, as tables do; JSON on stderr must be ASCII.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from tests.support.helpers import User
from tests.integration.test_faults import CLIENT_HEADER, DOMAIN, STREAM_HEADER, _Endpoint, certs  # noqa: F401
from tests.integration.test_hostile_servers import IQ_END, PASSWORD, HostileServer, hostile  # noqa: F401

#: what the server says, as XML text (CR and LF as character references, or XML would fold them)
HOSTILE_XML = "nope&#13;xmppctl: roster import OK&#10;fake line \u009bRED \u202etxt.exe"
#: what a terminal must never receive raw
RAW = re.compile("[\r\x1b\u0080-\u009f\u202a-\u202e]")


@dataclass
class TextServer(HostileServer):
    """A genuine SCRAM server that refuses every request after bind with *HOSTILE_XML* as the
    error text, or (stream_error) ends the stream with it right after its header."""

    stream_error: bool = False

    def _serve(self, conn, n: int) -> None:
        if not self.stream_error:
            return super()._serve(conn, n)
        buf = bytearray()
        try:
            self._read_until(conn, CLIENT_HEADER, buf)
            conn.sendall((STREAM_HEADER.format(n=n) + "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                          f"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>{HOSTILE_XML}</text></stream:error>"
                          "</stream:stream>").encode())
            self._idle(conn)
        except (OSError, ConnectionError):
            return

    def _answer_iqs(self, conn, buf: bytearray, n: int) -> None:
        while True:
            data = self._read_until(conn, IQ_END, buf)
            if data.endswith(b"</stream:stream>"):
                conn.sendall(b"</stream:stream>")
                return
            iq_id = re.findall(rb"<iq\b[^>]*\bid=['\"]([^'\"]+)", data)[-1].decode()
            if b"urn:ietf:params:xml:ns:xmpp-bind" in data[data.rindex(b"<iq"):]:
                body = f"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>fake@{DOMAIN}/r{n}</jid></bind>"
                conn.sendall(f"<iq type='result' id='{iq_id}'>{body}</iq>".encode())
                continue
            stanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
            conn.sendall(f"<iq type='error' id='{iq_id}'><error type='cancel'><not-allowed xmlns='{stanzas}'/>"
                         f"<text xmlns='{stanzas}'>{HOSTILE_XML}</text></error></iq>".encode())


@pytest.fixture
def text_server(certs):  # noqa: F811
    servers: list[TextServer] = []

    def make(**script) -> TextServer:
        crt, key = certs["good"]
        server = TextServer("never", crt, key, **script)
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.close()


def _assert_inert(stderr: str) -> None:
    assert not RAW.search(stderr), repr(stderr)
    assert "nope\\rxmppctl: roster import OK\\nfake line \\x9bRED \\u202etxt.exe" in stderr, repr(stderr)
    for line in stderr.splitlines():  # no line was forged: each one begins as xmppctl's own
        assert line.startswith(("xmppctl: ", "{")), repr(stderr)


def _user(server, certs) -> User:  # noqa: F811
    return User(_Endpoint(server.port, certs["ca"]), "fake", PASSWORD)


def test_iq_error_text_is_escaped_on_stderr(text_server, certs, run_cli):  # noqa: F811
    server = text_server()
    r = run_cli(_user(server, certs), "--timeout", "5", "roster", "add", "bob@localhost")
    assert r.code == 6, r.stderr
    _assert_inert(r.stderr)
    assert "\\u202etxt.exe" in r.stderr and "\\x9bRED" in r.stderr


def test_stream_error_text_before_tls_is_escaped_on_stderr(text_server, certs, run_cli):  # noqa: F811
    server = text_server(stream_error=True)
    r = run_cli(_user(server, certs), "--timeout", "5", "roster", "list")
    assert r.code == 4, r.stderr
    _assert_inert(r.stderr)
    assert "not-authorized" in r.stderr


def test_json_error_on_stderr_is_ascii_and_keeps_the_text(text_server, certs, run_cli):  # noqa: F811
    server = text_server()
    r = run_cli(_user(server, certs), "--timeout", "5", "roster", "add", "bob@localhost", "-o", "json")
    assert r.code == 6, r.stderr
    assert r.stderr.isascii(), repr(r.stderr)
    assert "fake line \u009bRED \u202etxt.exe" in json.loads(r.stderr)["message"]


def test_fleet_error_lines_are_escaped(text_server, certs, run_cli, tmp_path):  # noqa: F811
    server = text_server()
    config = tmp_path / "fleet.toml"
    config.write_text("".join(
        f'[accounts.{name}]\njid = "{name}@{DOMAIN}"\nserver = "127.0.0.1"\nport = {server.port}\n'
        f'ca_file = "{certs["ca"]}"\npassword = "{PASSWORD}"\n' for name in ("one", "two")))
    config.chmod(0o600)
    r = run_cli(None, "--config", str(config), "--timeout", "5", "--all-accounts", "roster", "add", "bob@localhost")
    assert r.code == 6, r.stderr
    assert len(r.stderr.strip().splitlines()) == 2
    _assert_inert(r.stderr)


def test_debug_trace_and_traceback_are_escaped_and_redacted(text_server, certs, run_cli):  # noqa: F811
    server = text_server()
    r = run_cli(_user(server, certs), "--timeout", "5", "--debug", "roster", "add", "bob@localhost")
    assert r.code == 6, r.stderr[-2000:]
    assert "Traceback" in r.stderr and "ServerRefused" in r.stderr
    assert not RAW.search(r.stderr), [line for line in r.stderr.splitlines() if RAW.search(line)]
    assert PASSWORD not in r.stderr
