"""No command loses a message addressed to the account (both servers).

A contact's message sent while the account is offline is stored by the server; a plain client
that logs in afterwards must receive it, whatever xmppctl commands ran in between.  Messages
that reach an xmppctl session anyway (sent to its full JID, or flushed by a server) are
reported on stderr and kept in $XDG_DATA_HOME/xmppctl/received-messages.ndjson.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.test_presence import befriend, held  # noqa: F401  (held is a fixture)
from tests.support.peer import receive_stored, send_messages, send_subscribe
from tests.support import Contact

#: one command of every group, each run with its default options
COMMANDS = [
    ("roster", "list"),
    ("roster", "show", "{bob}"),
    ("roster", "export"),
    ("group", "list"),
    ("group", "add", "Friends", "{bob}"),
    ("sub", "pending"),
    ("sub", "approve", "--all"),
    ("sub", "deny", "--all"),
    ("sub", "request", "{dave}"),
    ("presence", "set", "--show", "away"),
    ("presence", "set", "--status", "back soon"),
    ("presence", "probe"),
    ("presence", "watch", "--until", "1s"),
]


def keep_file() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "xmppctl" / "received-messages.ndjson"


def events(stderr: str) -> list[dict]:
    """The JSON stray-stanza reports on stderr (-o json/ndjson)."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith('{"event"')]


def kept_bodies() -> list[str]:
    path = keep_file()
    if not path.exists():
        return []
    return [json.loads(line)["body"] for line in path.read_text().splitlines() if line.strip()]


def test_message_stored_before_each_command_reaches_the_real_client(make_user, run_cli):
    alice, bob, carol, dave = (make_user(p) for p in ("alice", "bob", "carol", "dave"))
    befriend(alice, bob)
    alice.seed([Contact(bob.jid, subscription="both")], pending_in=[carol.jid])
    sent = []
    for i, command in enumerate(COMMANDS):
        body = f"message {i} before {' '.join(command[:2])}"
        send_messages(bob, alice.jid, [body])
        sent.append(body)
        args = [a.format(bob=bob.jid, dave=dave.jid) for a in command]
        r = run_cli(alice, *args, "-o", "json") if command[:2] not in (("roster", "export"),) else run_cli(alice, *args)
        assert r.code == 0, (command, r.stderr)
        assert "reached this session" not in r.stderr, (command, r.stderr)
    received = [m["body"] for m in receive_stored(alice, expect=len(sent))]
    assert sorted(received) == sorted(sent)
    assert kept_bodies() == []  # nothing had to be rescued: the server kept them all


#: the commands added since, that also send an initial presence: (argv, the exit codes they may end with)
NEWER_COMMANDS = [
    (("roster", "export", "-o", "xep0227"), (0,)),          # collects pending requests for the file
    (("check", "presence", "{bob}"), (0, 2)),               # a monitoring plugin: OK or CRITICAL
    (("presence", "probe", "-o", "prometheus"), (0,)),
    (("presence", "explain", "{bob}"), (0,)),
]


def test_message_stored_before_each_newer_command_reaches_the_real_client(make_user, run_cli):
    alice, bob, carol = (make_user(p) for p in ("alice", "bob", "carol"))
    befriend(alice, bob)
    alice.seed([Contact(bob.jid, subscription="both")], pending_in=[carol.jid])
    sent = []
    for i, (command, codes) in enumerate(NEWER_COMMANDS):
        body = f"message {i} before {' '.join(command[:2])}"
        send_messages(bob, alice.jid, [body])
        sent.append(body)
        r = run_cli(alice, *[a.format(bob=bob.jid) for a in command])
        assert r.code in codes, (command, r.code, r.stderr)
        # carol's pending request is reported (never answered); no message may reach the session
        assert "message from" not in r.stderr, (command, r.stderr)
    received = [m["body"] for m in receive_stored(alice, expect=len(sent))]
    assert sorted(received) == sorted(sent)
    assert kept_bodies() == []


def test_message_to_the_bare_jid_during_a_hold_is_not_lost(make_user, held):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    h = held(alice, "presence", "set", "--hold", "forever", "-o", "ndjson")
    send_messages(bob, alice.jid, ["while you were holding"])
    assert h.stop() == 0
    stderr = h.proc.stderr.read()
    delivered = [m["body"] for m in receive_stored(alice, expect=1)]
    # stored for the real client (negative priority) -- or, had it reached the session, kept
    assert "while you were holding" in delivered + kept_bodies(), stderr
    assert "while you were holding" in delivered, "the default must leave it stored for the real client"


def test_message_forced_onto_the_session_is_reported_and_kept(make_user, held):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    h = held(alice, "presence", "set", "--hold", "forever", "-o", "ndjson")
    full_jid = h.sent["jid"]
    send_messages(bob, full_jid, ["to your xmppctl session\u202e, line\nbreak"])
    assert h.stop() == 0
    reported = events(h.proc.stderr.read())
    assert [(e["event"], e["from"], e["body"], e["kept_in"]) for e in reported] == [
        ("message", f"{bob.jid}/sender", "to your xmppctl session\u202e, line\nbreak", str(keep_file()))]
    records = [json.loads(line) for line in keep_file().read_text().splitlines()]
    assert [r["body"] for r in records] == ["to your xmppctl session\u202e, line\nbreak"]
    assert records[0]["account"] == alice.jid and records[0]["from"] == f"{bob.jid}/sender"
    assert records[0]["session"] == full_jid and "<body>to your xmppctl session" in records[0]["xml"]
    assert oct(keep_file().stat().st_mode & 0o777) == "0o600"


def test_subscription_request_during_a_hold_is_reported(make_user, held):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    befriend(alice, bob)
    h = held(alice, "presence", "set", "--hold", "forever", "--priority", "0", "-o", "ndjson")
    send_subscribe(carol, alice.jid)
    # a ping of our own after carol's request: the held session has seen whatever was routed to it
    send_messages(bob, h.sent["jid"], ["sync"])
    assert h.stop() == 0
    stderr = h.proc.stderr.read()
    assert "--priority 0 >= 0" in stderr.splitlines()[0]  # said before connecting
    requests = [e for e in events(stderr) if e["event"] == "subscription-request"]
    assert [e["from"] for e in requests] == [carol.jid]
    assert [e["body"] for e in events(stderr) if e["event"] == "message"] == ["sync"]


def test_explicit_nonnegative_priority_loses_nothing(make_user, run_cli):
    """--priority 0 is allowed, but every stored message is then either kept stored (XEP-0013,
    ejabberd) or reported and kept in the keep file (a server that flushes it, Prosody)."""
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    send_messages(bob, alice.jid, ["stored before presence set --priority 0"])
    r = run_cli(alice, "presence", "set", "--priority", "0", "-o", "json")
    assert r.code == 0, r.stderr
    assert "--priority 0 >= 0" in r.stderr.splitlines()[0]
    delivered = [m["body"] for m in receive_stored(alice, expect=1, timeout=3)]
    kept = kept_bodies()
    assert sorted(delivered + kept) == ["stored before presence set --priority 0"]
    if kept:  # reported as a JSON event on stderr with -o json
        events = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
        assert [e["body"] for e in events if e.get("event") == "message"] == kept


@pytest.mark.parametrize("command", [("sub", "pending"), ("sub", "approve", "--all")])
def test_pending_requests_are_listed_without_consuming_messages(make_user, run_cli, command):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    befriend(alice, bob)
    alice.seed([Contact(bob.jid, subscription="both")], pending_in=[carol.jid])
    send_messages(bob, alice.jid, ["keep me"])
    r = run_cli(alice, *command, "-o", "json")
    assert r.code == 0, r.stderr
    assert carol.jid in r.stdout
    assert [m["body"] for m in receive_stored(alice, expect=1)] == ["keep me"]
