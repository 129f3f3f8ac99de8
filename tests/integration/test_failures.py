"""The failure matrix: every way a login can fail maps to its documented exit code, quickly."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.support.helpers import run_subprocess
from tests.support import free_port


def test_wrong_password_exits_3_quickly(make_user, run_cli):
    user = make_user()
    r = run_cli(user, "roster", "list", env={"XMPPCTL_PASSWORD": "not-the-password"})
    assert r.code == 3, r.stderr
    assert "authentication failed" in r.stderr
    assert r.elapsed < 5  # no retry loop (a loose bound: a loaded machine must not fail it)


def test_wrong_password_json_error_on_stderr(make_user, run_cli):
    user = make_user()
    r = run_cli(user, "roster", "list", "-o", "json", env={"XMPPCTL_PASSWORD": "nope"})
    assert r.code == 3
    assert r.stdout == ""
    assert r.error() == {"error": "auth", "exit": 3, "details": {"password_source": "XMPPCTL_PASSWORD"},
                         "message": f"authentication failed for {user.jid}: not-authorized (password from XMPPCTL_PASSWORD)"}


def test_unknown_user_exits_3(xmpp_server, run_cli):
    r = run_cli(None, "--jid", f"nobody@{xmpp_server.domain}", "--server", "127.0.0.1", "--port", str(xmpp_server.port),
                "--ca-file", str(xmpp_server.ca_file), "roster", "list", env={"XMPPCTL_PASSWORD": "x"})
    assert r.code == 3


def test_closed_port_exits_4_quickly(make_user, run_cli):
    user = make_user()
    port = free_port()  # nothing listens there
    r = run_cli(user, "--port", str(port), "roster", "list")
    assert r.code == 4, r.stderr
    assert "refused" in r.stderr
    assert r.elapsed < 5  # no retry loop (a loose bound: a loaded machine must not fail it)


@pytest.fixture
def silent_listener():
    """A TCP listener that accepts connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    conns = []
    stop = threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(sock.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield sock.getsockname()[1]
    stop.set()
    t.join()
    for c in conns:
        c.close()
    sock.close()


def test_silent_listener_times_out_with_5_at_the_deadline(make_user, silent_listener):
    user = make_user()
    r = run_subprocess(user, "--port", str(silent_listener), "--timeout", "1.5", "roster", "list")
    assert r.code == 5, r.stderr
    assert "within 1.5 s" in r.stderr
    # process start (~0.3 s) + the 1.5 s deadline; never the 10 s default or slixmpp's retries
    # (a loose upper bound: a loaded machine must not fail it)
    assert 1.5 <= r.elapsed < 8


def test_untrusted_certificate_exits_4_and_ca_file_fixes_it(make_user, run_cli):
    user = make_user()
    args = [a for a in user.args]
    i = args.index("--ca-file")
    del args[i:i + 2]
    r = run_cli(None, *args, "roster", "list", env={"XMPPCTL_PASSWORD": user.password})
    assert r.code == 4, r.stderr
    assert "certificate" in r.stderr and "not trusted" in r.stderr
    r = run_cli(user, "roster", "list")
    assert r.code == 0, r.stderr


def test_insecure_skips_verification_and_warns(make_user, run_cli):
    user = make_user()
    args = list(user.args)
    i = args.index("--ca-file")
    del args[i:i + 2]
    r = run_cli(None, *args, "--insecure", "roster", "list", env={"XMPPCTL_PASSWORD": user.password})
    assert r.code == 0, r.stderr
    assert "NOT verified" in r.stderr


def test_ca_file_replaces_the_system_store(make_user, tmp_path):
    # The server's CA in the "system" store (SSL_CERT_FILE) is trusted without --ca-file; with
    # --ca-file naming another CA it is not: the file pins, as curl --cacert does.
    from tests.support.certs import make_certs

    user = make_user()
    args = list(user.args)
    i = args.index("--ca-file")
    del args[i:i + 2]
    system = {"SSL_CERT_FILE": str(user.server.ca_file), "SSL_CERT_DIR": str(tmp_path)}
    r = run_subprocess(user, *args, "roster", "list", env=system)
    assert r.code == 0, r.stderr
    other_ca = make_certs(tmp_path / "other-ca", "other.test")
    r = run_subprocess(user, *args, "--ca-file", str(other_ca), "roster", "list", env=system)
    assert r.code == 4, r.stderr
    assert "not trusted" in r.stderr


def test_wrong_host_name_in_certificate_exits_4(make_user, run_cli):
    # The cert is for localhost/127.0.0.1; asking for another domain at the same address must fail.
    user = make_user()
    r = run_cli(None, "--jid", "someone@example.test", "--server", "127.0.0.1", "--port", str(user.server.port),
                "--ca-file", str(user.server.ca_file), "roster", "list", env={"XMPPCTL_PASSWORD": "x"})
    assert r.code == 4, r.stderr


def test_malformed_config_exits_2_naming_file_and_key(run_cli, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[accounts.work]\njid = "a@example.org"\nport = "many"\n')
    r = run_cli(None, "--config", str(config), "roster", "list")
    assert r.code == 2
    assert str(config) in r.stderr and "accounts.work.port" in r.stderr


def test_config_syntax_error_exits_2(run_cli, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[accounts.work\njid = 1\n")
    r = run_cli(None, "--config", str(config), "roster", "list")
    assert r.code == 2 and str(config) in r.stderr and "invalid TOML" in r.stderr


@pytest.mark.parametrize("jid", ["alice", "@example.org", "a b@example.org", "alice@example.org/res", "al<ce@example.org", "a@-bad-.org"])
def test_bad_login_jid_exits_2(run_cli, jid):
    r = run_cli(None, "--jid", jid, "roster", "list", env={"XMPPCTL_PASSWORD": "x"})
    assert r.code == 2, (jid, r.stderr)
    assert "invalid JID" in r.stderr or "expected user@domain" in r.stderr or "bare JID" in r.stderr


def test_no_password_source_exits_2(make_user, run_cli):
    user = make_user()
    r = run_cli(None, *user.args, "roster", "list", env={"XMPPCTL_PASSWORD": None})
    assert r.code == 2 and "no password" in r.stderr


def test_password_stdin(make_user, run_cli):
    user = make_user()
    r = run_cli(None, *user.args, "--password-stdin", "roster", "list", "-o", "json", stdin=user.password + "\n")
    assert r.code == 0, r.stderr


def test_password_command_first_line_is_used(make_user, run_cli, tmp_path):
    user = make_user()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[accounts.t]\njid = "{user.jid}"\nserver = "127.0.0.1"\nport = {user.server.port}\n'
        f'ca_file = "{user.server.ca_file}"\npassword_command = ["printf", "%s\\\\nsecond line\\\\n", "{user.password}"]\n'
    )
    r = run_cli(None, "--config", str(config), "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr


def test_debug_trace_shows_xml_but_never_the_password_or_sasl(make_user):
    user = make_user()
    r = run_subprocess(user, "--debug", "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert "jabber:iq:roster" in r.stderr  # the XML stream is there
    assert user.password not in r.stderr
    import base64
    import re

    for m in re.finditer(r"<(auth|response|challenge|success)\b[^>]*>([^<]*)<", r.stderr):
        assert m.group(2) == "[redacted]", m.group(0)
    assert base64.b64encode(user.password.encode()).decode() not in r.stderr


def test_no_traceback_without_debug(make_user, run_cli):
    user = make_user()
    r = run_cli(user, "roster", "list", env={"XMPPCTL_PASSWORD": "wrong"})
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
