"""block list/add/remove (XEP-0191) against real servers, and what a block does to subscription requests.

Both test servers offer XEP-0191 (Prosody: mod_blocklist; ejabberd: mod_blocking over
mod_privacy).  A server without it is a Prosody started here with mod_blocklist left out.
"""

from __future__ import annotations

import pytest

from tests.support.helpers import User, run_subprocess
from tests.support import prosody as devserver


def block(run_cli, user, *args) -> list[dict]:
    r = run_cli(user, "block", *args, "-o", "json")
    assert r.code == 0, r.stderr
    return r.json()


def blocklist(run_cli, user) -> list[str]:
    return [row["jid"] for row in block(run_cli, user, "list")]


def pending_in(run_cli, user) -> list[str]:
    r = run_cli(user, "sub", "pending", "-o", "json", "--direction", "in")
    assert r.code == 0, r.stderr
    return [row["jid"] for row in r.json()]


def test_block_list_add_remove_round_trip_with_bare_full_and_domain_jids(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    assert blocklist(run_cli, alice) == []
    rows = block(run_cli, alice, "add", bob.jid.upper(), "spam.example", "x@y.example/res")
    assert rows == [
        {"action": "block", "jid": bob.jid, "ok": True, "error": None, "message": None},
        {"action": "block", "jid": "spam.example", "ok": True, "error": None, "message": None},
        {"action": "block", "jid": "x@y.example/res", "ok": True, "error": None, "message": None},
    ]
    assert blocklist(run_cli, alice) == [bob.jid, "spam.example", "x@y.example/res"]

    again = block(run_cli, alice, "add", bob.jid, "new.example")
    assert [(r["action"], r["jid"], r["ok"]) for r in again] == [("skip", bob.jid, True), ("block", "new.example", True)]
    assert again[0]["message"] == "already blocked; nothing sent"

    rows = block(run_cli, alice, "remove", "spam.example", "never@blocked.example")
    assert [(r["action"], r["jid"], r["ok"]) for r in rows] == [("skip", "never@blocked.example", True),
                                                               ("unblock", "spam.example", True)]
    assert blocklist(run_cli, alice) == [bob.jid, "new.example", "x@y.example/res"]


def test_dry_runs_send_nothing(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    block(run_cli, alice, "add", "spam.example")
    rows = block(run_cli, alice, "add", "--dry-run", bob.jid, "spam.example")
    assert [(r["action"], r["jid"], r["ok"]) for r in rows] == [("block", bob.jid, None), ("skip", "spam.example", True)]
    assert rows[0]["message"] == "would be blocked (dry run; nothing sent)"
    assert [(r["action"], r["ok"]) for r in block(run_cli, alice, "remove", "--dry-run", "spam.example")] == [("unblock", None)]
    assert [(r["action"], r["jid"]) for r in block(run_cli, alice, "remove", "--all", "-n")] == [("unblock", "spam.example")]
    assert blocklist(run_cli, alice) == ["spam.example"]
    table = run_cli(alice, "block", "add", "--dry-run", bob.jid, "-o", "table")
    assert table.code == 0 and "dry run: nothing was sent" in table.stderr


def test_remove_all_empties_the_list_and_reports_each_entry(make_user, run_cli):
    alice = make_user("alice")
    assert block(run_cli, alice, "remove", "--all") == []  # nothing blocked: nothing sent, nothing printed
    block(run_cli, alice, "add", "a@spam.example", "spam.example")
    rows = block(run_cli, alice, "remove", "--all")
    assert [(r["action"], r["jid"], r["ok"]) for r in rows] == [("unblock", "a@spam.example", True),
                                                               ("unblock", "spam.example", True)]
    assert blocklist(run_cli, alice) == []


def test_a_blocked_jids_request_never_shows_as_pending_and_unblocking_restores_new_ones(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    block(run_cli, alice, "add", bob.jid)
    r = run_cli(bob, "sub", "request", alice.jid, "-o", "json")
    assert r.code == 0, r.stderr  # the server accepts it from bob and drops it at alice's side
    assert pending_in(run_cli, alice) == []

    block(run_cli, alice, "remove", bob.jid)
    assert pending_in(run_cli, alice) == []  # the blocked request was dropped, not kept for later
    r = run_cli(bob, "sub", "request", alice.jid, "-o", "json")
    assert r.code == 0, r.stderr
    assert pending_in(run_cli, alice) == [bob.jid]


def test_blocking_one_full_jid_leaves_the_bare_jids_requests_through(make_user, run_cli):
    """A subscription request comes from the bare JID (RFC 6121 §3.1.2), which a full-JID entry does not cover."""
    alice, bob = make_user("alice"), make_user("bob")
    block(run_cli, alice, "add", f"{bob.jid}/other-resource")
    assert run_cli(bob, "sub", "request", alice.jid).code == 0
    assert pending_in(run_cli, alice) == [bob.jid]


@pytest.fixture(scope="module")
def prosody_without_blocking(tmp_path_factory):
    """A Prosody whose config lacks mod_blocklist: no urn:xmpp:blocking in its disco#info."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(devserver, "PROSODY_MODULES", tuple(m for m in devserver.PROSODY_MODULES if m != "blocklist"))
        server = devserver.ProsodyServer(tmp_path_factory.mktemp("prosody-noblock")).start()
    yield server
    server.stop()


@pytest.mark.parametrize("args", [("list",), ("add", "spam.example"), ("remove", "spam.example"), ("remove", "--all"),
                                  ("add", "--dry-run", "spam.example")])
def test_a_server_without_xep_0191_is_exit_6_and_gets_nothing_but_the_disco_query(prosody_without_blocking, args):
    prosody_without_blocking.register("nb", "nb-password-1")
    user = User(prosody_without_blocking, "nb", "nb-password-1")
    r = run_subprocess(user, "--debug", "block", *args, "-o", "json")
    assert r.code == 6, r.stderr
    error = r.error()
    assert (error["message"], error["condition"]) == ("server does not support blocking (XEP-0191)", "feature-not-implemented")
    assert r.stdout == ""
    assert "disco#info" in r.stderr  # the question was asked ...
    assert "urn:xmpp:blocking" not in r.stderr  # ... and no blocking request followed (nor was it offered)


def deny(run_cli, user, *args) -> list[dict]:
    r = run_cli(user, "sub", "deny", *args, "-o", "json")
    assert r.code == 0, r.stderr
    return r.json()


def test_deny_block_denies_then_blocks_so_new_requests_never_show(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    assert run_cli(bob, "sub", "request", alice.jid).code == 0
    [row] = deny(run_cli, alice, "--block", bob.jid)
    assert (row["jid"], row["sent"], row["status"], row["blocked"], row["error"]) == (bob.jid, ["unsubscribed"], "sent", True, None)
    assert blocklist(run_cli, alice) == [bob.jid]
    assert pending_in(run_cli, alice) == []
    assert run_cli(bob, "sub", "request", alice.jid).code == 0
    assert pending_in(run_cli, alice) == []  # blocked: the new request is dropped


def test_deny_match_block_blocks_only_the_matching_requesters_and_dry_run_sends_nothing(make_user, run_cli):
    alice, spam, friend = make_user("alice"), make_user("spam"), make_user("friend")
    for requester in (spam, friend):
        assert run_cli(requester, "sub", "request", alice.jid).code == 0
    dry = deny(run_cli, alice, "--block", "--match", "spam*", "--dry-run")
    assert [(r["jid"], r["status"], r["blocked"]) for r in dry] == [(spam.jid, "dry-run", None)]
    assert blocklist(run_cli, alice) == [] and sorted(pending_in(run_cli, alice)) == sorted([spam.jid, friend.jid])
    rows = deny(run_cli, alice, "--block", "--match", "spam*")
    assert [(r["jid"], r["status"], r["blocked"]) for r in rows] == [(spam.jid, "sent", True)]
    assert blocklist(run_cli, alice) == [spam.jid]
    assert pending_in(run_cli, alice) == [friend.jid]


def test_deny_without_block_has_no_blocked_key(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    assert run_cli(bob, "sub", "request", alice.jid).code == 0
    [row] = deny(run_cli, alice, "--all")
    assert "blocked" not in row and row["status"] == "sent"
    assert blocklist(run_cli, alice) == []


def test_deny_block_on_a_server_without_xep_0191_is_exit_6_before_any_presence(prosody_without_blocking):
    prosody_without_blocking.register("nbd", "nbd-password-1")
    prosody_without_blocking.register("nbr", "nbr-password-1")
    target, requester = User(prosody_without_blocking, "nbd", "nbd-password-1"), User(prosody_without_blocking, "nbr", "nbr-password-1")
    assert run_subprocess(requester, "sub", "request", target.jid).code == 0
    r = run_subprocess(target, "--debug", "sub", "deny", "--all", "--block", "-o", "json")
    assert r.code == 6, r.stderr
    assert r.error()["message"] == "server does not support blocking (XEP-0191)"
    assert r.stdout == ""
    sent = [line for line in r.stderr.splitlines() if "SEND" in line]
    assert sent and not any("<presence" in line for line in sent), sent  # no initial presence, no unsubscribed
    listed = run_subprocess(target, "sub", "pending", "-o", "json")
    assert [row["jid"] for row in listed.json()] == [requester.jid]  # still pending: nothing was denied
