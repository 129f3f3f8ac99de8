"""Clean endings (RFC 6121 §4.5.1): a session that sent available presence sends unavailable
before it closes the stream, once, to the same audience.

What the client sends is read from the scripted server of test_hostile_servers.py (a genuine
SCRAM peer that records the stream); what a contact sees is checked on the real servers.
"""

from __future__ import annotations

import re

import pytest

from tests.support.helpers import User, run_subprocess
from tests.integration.test_faults import _Endpoint, certs  # noqa: F401  (certs is a fixture)
from tests.integration.test_hostile_servers import PASSWORD, hostile  # noqa: F401  (hostile is a fixture)
from tests.integration.test_presence import befriend

PRESENCE = re.compile(rb"<presence\b[^>]*?(?:/>|>.*?</presence>)", re.S)


def _presences(received: bytes) -> list[tuple[str | None, str | None]]:
    """(type, to) of every presence the client sent, in order."""
    out = []
    for stanza in PRESENCE.findall(received):
        head = stanza[: stanza.index(b">")]
        kind = re.search(rb"\btype=['\"]([^'\"]+)", head)
        to = re.search(rb"\bto=['\"]([^'\"]+)", head)
        out.append((kind and kind.group(1).decode(), to and to.group(1).decode()))
    return out


def _run(server, certs, *args: str):
    user = User(_Endpoint(server.port, certs["ca"]), "fake", PASSWORD)
    r = run_subprocess(user, "--timeout", "5", *args, timeout=60)
    assert r.code == 0, r.stderr
    assert server.closed_by_client.wait(5), "the stream was not closed"
    sent = bytes(server.received)
    assert sent.rstrip().endswith(b"</stream:stream>")
    return _presences(sent)


@pytest.mark.parametrize("args, expected", [
    (("--status", "hello"), [(None, None), ("unavailable", None)]),
    (("--to", "x@localhost", "--to", "y@localhost"),
     [(None, "x@localhost"), (None, "y@localhost"), ("unavailable", "x@localhost"), ("unavailable", "y@localhost")]),
    (("--unavailable", "--status", "gone"), [("unavailable", None)]),
    (("--hold", "0.1s"), [(None, None), ("unavailable", None)]),  # --hold sends its own: not twice
], ids=["broadcast", "directed", "unavailable-only", "hold"])
def test_presence_set_ends_with_unavailable_to_the_same_audience(hostile, certs, args, expected):
    assert _run(hostile(), certs, "presence", "set", *args) == expected


def test_commands_without_presence_send_none(hostile, certs):
    assert _run(hostile(), certs, "roster", "list") == []


def test_probe_ends_its_initial_presence(hostile, certs):
    # the fake roster holds one contact that never answers: the probe ends at its deadline
    assert _run(hostile(), certs, "presence", "probe") == [(None, None), ("unavailable", None)]


def test_contact_sees_a_clean_unavailable_after_a_one_shot_presence(make_user, run_cli):
    """ejabberd used to record the dropped stream ("Stream reset by peer") as the last status
    that contacts read with XEP-0012; Prosody records nothing.  Both must show no status: the
    unavailable we sent had none."""
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    r = run_cli(alice, "presence", "set", "--status", "hello")
    assert r.code == 0, r.stderr
    r = run_cli(bob, "presence", "probe", "--last", "-o", "json")
    assert r.code == 0, r.stderr
    [row] = r.json()
    assert (row["jid"], row["state"], row["status"]) == (alice.jid, "offline", None)
    assert row["last_seen"] is not None
