"""Text safety against real servers: bad command-line text sends nothing; remote text in tables is inert."""

from __future__ import annotations

import os

from tests.support.helpers import roster_by_jid
from tests.support import Contact

SEED = [Contact("bob@example.org", "Bob", ("Friends", "Work"), "both"),
        Contact("carol@example.org", None, ("Work",), "to")]
UNDECODABLE = os.fsdecode(b"caf\xe9")


def test_bad_text_options_exit_2_and_leave_the_roster_untouched(make_user, run_cli):
    user, other = make_user(), make_user()
    user.seed(SEED)
    before = roster_by_jid(run_cli, user)
    commands = [
        ("roster", "add", "new@example.org", "--name", UNDECODABLE),
        ("roster", "add", "bob@example.org", "--group", "G\x1b[2J"),
        ("roster", "set", "bob@example.org", "--name", "two\nlines"),
        ("roster", "set", "bob@example.org", "--add-group", "\ufffe"),
        ("roster", "set", "bob@example.org", "--remove-group", UNDECODABLE),
        ("group", "add", "Bad\x00", "bob@example.org"),
        ("group", "rename", "Work", UNDECODABLE),
        ("group", "delete", "Work\x7f"),
        ("sub", "request", other.jid, "--name", UNDECODABLE),
        ("sub", "request", other.jid, "--group", "x\ny"),
        ("sub", "request", other.jid, "--nick", "nick\x01"),
        ("sub", "request", other.jid, "--message", "hello \uffff"),
    ]
    for args in commands:
        r = run_cli(user, *args)
        assert r.code == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and "contains U+" in r.stderr, (args, r.stderr)
    assert roster_by_jid(run_cli, user) == before  # no set, and no subscribe (it would add other.jid)


def test_remote_bidi_and_separator_characters_are_escaped_in_tables_only(make_user, run_cli):
    user = make_user()
    user.seed([Contact("eve@example.org", "Eve\u202egnp.exe", ("Line\u2028Break",), "both")])
    r = run_cli(user, "roster", "list", "-o", "table")
    assert r.code == 0, r.stderr
    assert "Eve\\u202egnp.exe" in r.stdout and "Line\\u2028Break" in r.stdout
    assert "\u202e" not in r.stdout and "\u2028" not in r.stdout
    r = run_cli(user, "roster", "list", "-o", "json")
    assert r.json()[0]["name"] == "Eve\u202egnp.exe" and r.json()[0]["groups"] == ["Line\u2028Break"]
