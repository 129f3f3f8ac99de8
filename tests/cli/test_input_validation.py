"""Text from the command line is validated before anything is sent: exit 2, one line naming the option.

In-process the session is a fake, and a refused input leaves it unopened (nothing sent);
accepted text reaches it as given.  The real-process tests point the account at a port where
nothing listens.  tests/integration/test_bad_text_input.py checks the same against real
servers' rosters.
"""

from __future__ import annotations

import os
import socket

import pytest

from tests.support.fakes import FakeSession
from tests.support.helpers import run_subprocess

UNDECODABLE = os.fsdecode(b"caf\xe9")  # what Latin-1 bytes in argv become: 'caf\udce9'
ONE_LINE_BAD = {"escape": "x\x1b[2J", "newline": "a\nb", "undecodable": UNDECODABLE, "nonchar": "\ufffe", "surrogate": "\ud800"}
MULTI_LINE_BAD = {"bell": "x\x07", "escape": "x\x1b[2J", "undecodable": UNDECODABLE, "nonchar": "\uffff"}

# (option named in the message, argv with {} for the bad text, which bad values)
CASES = [
    ("--name", ("roster", "add", "b@x.org", "--name", "{}"), ONE_LINE_BAD),
    ("--group", ("roster", "add", "b@x.org", "--group", "{}"), ONE_LINE_BAD),
    ("--name", ("roster", "set", "b@x.org", "--name", "{}"), ONE_LINE_BAD),
    ("--group", ("roster", "set", "b@x.org", "--group", "{}"), ONE_LINE_BAD),
    ("--add-group", ("roster", "set", "b@x.org", "--add-group", "{}"), ONE_LINE_BAD),
    ("--remove-group", ("roster", "set", "b@x.org", "--remove-group", "{}"), ONE_LINE_BAD),
    ("GROUP", ("group", "members", "{}"), ONE_LINE_BAD),
    ("GROUP", ("group", "add", "{}", "b@x.org"), ONE_LINE_BAD),
    ("GROUP", ("group", "remove", "{}", "b@x.org"), ONE_LINE_BAD),
    ("OLD", ("group", "rename", "{}", "New"), ONE_LINE_BAD),
    ("NEW", ("group", "rename", "Old", "{}"), ONE_LINE_BAD),
    ("GROUP", ("group", "delete", "{}"), ONE_LINE_BAD),
    ("--name", ("sub", "request", "b@x.org", "--name", "{}"), ONE_LINE_BAD),
    ("--group", ("sub", "request", "b@x.org", "--group", "{}"), ONE_LINE_BAD),
    ("--nick", ("sub", "request", "b@x.org", "--nick", "{}"), ONE_LINE_BAD),
    ("--message", ("sub", "request", "b@x.org", "--message", "{}"), MULTI_LINE_BAD),
    ("--status", ("presence", "set", "--status", "{}"), MULTI_LINE_BAD),
]


@pytest.fixture(scope="module")
def nowhere():
    """Global options for an account whose server refuses every connection (bound, not listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield ["--jid", "me@localhost", "--server", "127.0.0.1", "--port", str(sock.getsockname()[1]), "--timeout", "5"]
    sock.close()


@pytest.fixture
def against_fake(cli):
    """run(*args) -> (Result, FakeSession): logged in as me@localhost, in-process, every session a fake."""

    def run(*args: str, prefix: tuple[str, ...] = ("--jid", "me@localhost")):
        fake = FakeSession(bare_jid="me@localhost", blocklist=[])
        return cli([*prefix, *args], session_factory=fake.factory), fake

    return run


def assert_nothing_sent(fake: FakeSession) -> None:
    assert (fake.opened, fake.sent) == ([], []), "no session may be opened for refused input"


def _expand(args, value):
    return [value if a == "{}" else a for a in args]


@pytest.mark.parametrize("option, args, bad", CASES, ids=[f"{c[1][0]}-{c[1][1]}-{c[0]}" for c in CASES])
def test_bad_text_is_exit_2_naming_the_option_before_connecting(against_fake, option, args, bad):
    for kind, value in bad.items():
        r, fake = against_fake(*_expand(args, value))
        assert r.code == 2, (kind, r.stderr)
        assert r.stderr.startswith(f"xmppctl: {option}: contains U+") and r.stderr.count("\n") == 1, (kind, r.stderr)
        assert_nothing_sent(fake)


@pytest.mark.parametrize("text", ["two\nlines", "tab\tand\r\nCRLF", "bidi \u202e and é"])
def test_multi_line_status_text_is_allowed(against_fake, text):
    r, fake = against_fake("presence", "set", "--status", text)
    assert r.code == 0, r.stderr
    assert [s[1]["status"] for s in fake.sent if s[0] == "presence"] == [text]


def test_bad_text_error_as_json(against_fake):
    r, fake = against_fake("roster", "add", "b@x.org", "--name", UNDECODABLE, "-o", "json")
    assert r.code == 2
    assert r.error() == {"error": "usage", "exit": 2,
                         "message": "--name: contains U+DCE9, the argument is not valid UTF-8 (an undecodable byte)"}
    assert_nothing_sent(fake)


def test_undecodable_bytes_in_account_settings_are_refused_not_a_crash(run_cli, tmp_path):
    cfg = tmp_path / "c.toml"
    r = run_cli(None, "--config", str(cfg), "account", "add", "w", "--jid", "a@b.org", "--server", "h" + UNDECODABLE)
    assert r.code == 2 and r.stderr.startswith("xmppctl: --server: contains U+DCE9"), r.stderr
    assert not cfg.exists()


# Real argv bytes: the interpreter decodes them with surrogateescape, exactly as a shell passes them.
@pytest.mark.parametrize("args, option", [
    (("roster", "add", "b@x.org", "--name", b"Jos\xe9"), "--name"),
    (("roster", "set", "b@x.org", "--add-group", b"\xff\xfe"), "--add-group"),
    (("group", "rename", "Old", b"Caf\xe9"), "NEW"),
    (("sub", "request", "b@x.org", "--nick", b"\x80nick"), "--nick"),
    (("sub", "request", "b@x.org", "--message", b"hi \xc3"), "--message"),
    (("presence", "set", "--status", b"away \xe9"), "--status"),
    (("roster", "add", b"jos\xe9@x.org"), "invalid JID"),
], ids=["roster-add-name", "roster-set-add-group", "group-rename-new", "sub-nick", "sub-message", "presence-status", "jid"])
def test_undecodable_argv_bytes_exit_2_in_a_real_process(nowhere, args, option):
    argv = [os.fsdecode(a) if isinstance(a, bytes) else a for a in args]  # re-encoded to the same bytes
    r = run_subprocess(None, *nowhere, *argv, env={"XMPPCTL_PASSWORD": "pw", "LC_ALL": "C.UTF-8"})
    assert r.code == 2, r.stderr
    assert r.stderr.startswith(f"xmppctl: {option}") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr


def test_an_undecodable_server_name_exits_2_at_once_instead_of_waiting_for_the_timeout():
    r = run_subprocess(None, "--jid", "a@example.org", "--server", os.fsdecode(b"ex\xffample.org"), "--timeout", "30",
                       "roster", "list", env={"XMPPCTL_PASSWORD": "pw", "LC_ALL": "C.UTF-8"})
    assert r.code == 2, r.stderr
    assert r.stderr == "xmppctl: --server: not valid UTF-8 (an undecodable byte)\n"


@pytest.mark.parametrize("host", ["a b.org", "a..b.org", "x\x00y", "tab\t.org"])
def test_a_server_that_is_no_host_name_is_refused_before_connecting(run_cli, host):
    r = run_cli(None, "--jid", "a@example.org", "--server", host, "roster", "list", env={"XMPPCTL_PASSWORD": "pw"})
    assert r.code == 2 and "--server" in r.stderr and "not a host name" in r.stderr, r.stderr
