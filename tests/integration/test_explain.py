"""presence explain against real servers: the main verdicts, from one side and from both.

Subscription states are seeded into storage before anyone logs in, or made with real
`sub` commands; an online contact is a background `presence set --hold` process whose
output line is the readiness signal (tests/integration/test_presence.py).
"""

from __future__ import annotations

from tests.support.helpers import User
from tests.integration.test_presence import befriend, held, hold  # noqa: F401  (held is a fixture)
from tests.support.peer import receive_stored, send_messages
from tests.support import Contact


def explain(run_cli, user, contact, *extra, code: int = 0) -> dict:
    r = run_cli(user, "presence", "explain", contact.jid, "-o", "json", *extra)
    assert r.code == code, r.stderr
    return r.json()


def peer_config(tmp_path, contact: User) -> str:
    """A config file holding the contact's account (its password stored there)."""
    path = tmp_path / "peer.toml"
    path.write_text(f'[accounts.peer]\njid = "{contact.jid}"\nserver = "127.0.0.1"\nport = {contact.server.port}\n'
                    f'ca_file = "{contact.server.ca_file}"\npassword = "{contact.password}"\n')
    return str(path)


def with_peer(run_cli, user, contact, tmp_path) -> dict:
    # the main account's password is in XMPPCTL_PASSWORD (run_cli): the peer must not use it
    r = run_cli(user, "--config", peer_config(tmp_path, contact), "presence", "explain", contact.jid,
                "--peer-account", "peer", "-o", "json")
    assert r.code == 0, r.stderr
    return r.json()


def test_a_stranger_is_not_in_roster_and_you_must_request(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    data = explain(run_cli, alice, bob)
    assert (data["in_roster"], data["subscription"], data["ask"], data["blocked"]) == (False, "none", False, False)
    assert (data["state"], data["code"], data["must_act"]) == ("not-in-roster", "not-in-roster", "you")
    assert data["verdict"] == f"no presence: {bob.jid} is not in your roster; run `xmppctl sub request {bob.jid}`"


def test_a_subscriber_we_do_not_follow_is_not_subscribed_with_its_state(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    alice.seed([Contact(bob.jid, subscription="from")])
    data = explain(run_cli, alice, bob)
    assert (data["subscription"], data["approved"], data["code"]) == ("from", True, "not-subscribed")
    assert "(subscription=from); run `xmppctl sub request" in data["verdict"]


def test_our_pending_request_says_the_contact_must_approve_and_the_peer_side_confirms(make_user, run_cli, tmp_path):
    alice, bob = make_user("alice"), make_user("bob")
    assert run_cli(alice, "sub", "request", bob.jid).code == 0
    data = explain(run_cli, alice, bob)
    assert (data["ask"], data["code"], data["must_act"]) == (True, "request-pending", "contact")
    assert data["verdict"] == f"no presence: your subscription request is pending: {bob.jid} must approve it"

    data = with_peer(run_cli, alice, bob, tmp_path)
    assert data["peer"]["pending_in"] is True and data["peer"]["account"] == bob.jid
    assert data["verdict"].endswith(f"must approve it: `xmppctl -a peer sub approve {alice.jid}`")
    # and explaining did not answer the request
    assert run_cli(bob, "sub", "pending", "-o", "json").json()[0]["jid"] == alice.jid


def test_a_pending_request_the_contact_never_got_is_lost_where_the_server_does_not_resend_it(
        make_user, run_cli, tmp_path, xmpp_server):
    alice, bob = make_user("alice"), make_user("bob")
    alice.seed([Contact(bob.jid, ask=True)])  # our roster says pending; bob's server has nothing
    data = with_peer(run_cli, alice, bob, tmp_path)
    if xmpp_server.kind == "prosody":
        # Prosody re-sends every pending outbound request on an initial presence, explain's own
        # included, so the contact has it by the time its side is read (docs/protocol-notes.md)
        assert (data["peer"]["pending_in"], data["code"]) == (True, "request-pending")
    else:
        assert (data["ask"], data["peer"]["pending_in"], data["code"], data["must_act"]) == (
            True, False, "request-lost", "you")


def test_a_contact_we_block_is_blocked_and_not_probed(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    assert run_cli(alice, "block", "add", bob.jid).code == 0
    data = explain(run_cli, alice, bob)
    assert (data["blocked"], data["blocked_by"], data["state"], data["code"]) == (True, [bob.jid], None, "blocked")
    assert data["verdict"] == f"no presence: {bob.jid} is blocked by you; run `xmppctl block remove {bob.jid}`"


def test_a_contact_that_blocks_us_is_named_as_the_side_to_act(make_user, run_cli, tmp_path):
    alice, bob = make_user("alice"), make_user("bob")
    assert run_cli(bob, "block", "add", alice.jid).code == 0
    data = with_peer(run_cli, alice, bob, tmp_path)
    assert (data["peer"]["blocked"], data["code"], data["must_act"]) == (True, "blocked-by-contact", "contact")
    assert data["verdict"].endswith(f"`xmppctl -a peer block remove {alice.jid}`")


def test_an_online_contact_is_online_with_its_resources(make_user, run_cli, held):  # noqa: F811
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    bob_online = hold(held, bob, "--show", "away", "--priority", "3")
    data = explain(run_cli, alice, bob)
    resource = bob_online.sent["jid"].split("/")[1]
    assert (data["state"], data["code"], data["must_act"]) == ("online", "online", None)
    assert [(r["resource"], r["show"], r["priority"]) for r in data["resources"]] == [(resource, "away", 3)]
    assert data["verdict"] == f"online: 1 resource ({resource}: away)"
    assert bob_online.stop() == 0


def test_an_offline_contact_is_offline(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    assert run_cli(bob, "presence", "set").code == 0  # bob was online once: servers know a last activity
    data = explain(run_cli, alice, bob)
    assert (data["state"], data["code"], data["resources"]) == ("offline", "offline", [])
    assert data["verdict"].startswith("offline; last seen ")


def test_both_sides_agreeing_on_a_mutual_subscription_read_the_probe(make_user, run_cli, tmp_path):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    data = with_peer(run_cli, alice, bob, tmp_path)
    assert (data["peer"]["subscription"], data["peer"]["approved"], data["code"]) == ("both", True, "offline")


def test_the_table_report_ends_with_the_verdict(make_user, run_cli):
    alice, bob = make_user("alice"), make_user("bob")
    r = run_cli(alice, "presence", "explain", bob.jid, "-o", "table")
    assert r.code == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split() == ["jid", bob.jid]
    assert lines[-1].startswith("verdict") and "is not in your roster" in lines[-1]


def test_stored_messages_of_both_accounts_stay_stored_for_their_real_clients(make_user, run_cli, tmp_path):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    befriend(alice, bob)
    send_messages(carol, alice.jid, ["for alice"])
    send_messages(carol, bob.jid, ["for bob"])
    data = with_peer(run_cli, alice, bob, tmp_path)
    assert data["code"] == "offline"
    assert [m["body"] for m in receive_stored(alice, expect=1)] == ["for alice"]
    assert [m["body"] for m in receive_stored(bob, expect=1)] == ["for bob"]


def test_a_subscribed_contact_that_blocks_us_never_answers_the_probe(make_user, run_cli, tmp_path):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    assert run_cli(bob, "block", "add", alice.jid).code == 0
    r = run_cli(alice, "--timeout", "2", "presence", "explain", bob.jid, "-o", "json")
    assert r.code == 0, r.stderr
    data = r.json()
    assert (data["state"], data["code"]) == ("timeout", "no-answer")
    assert data["verdict"].endswith(f"its server may be unreachable, or {bob.jid} blocks you")
    r = run_cli(alice, "--timeout", "2", "--config", peer_config(tmp_path, bob), "presence", "explain", bob.jid,
                "--peer-account", "peer", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json()["code"] == "blocked-by-contact"
