"""roster migrate against the real servers, OLD and NEW on the same server, contacts as real clients.

Contacts on another server, reached server-to-server: tests/integration/test_migrate_s2s.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.support.helpers import roster_by_jid
from tests.integration.test_fleet import _config, run_counting  # noqa: F401  (run_counting is a fixture)
from tests.support.peer import send_presences
from tests.support import Contact

SENDS = ("subscribe", "subscribed", "unsubscribe", "unsubscribed", "roster-set", "roster-remove")


def _migrate(run_counting, config, *args):  # noqa: F811
    import os

    os.environ.pop("XMPPCTL_PASSWORD", None)  # set by run_cli for the last user it ran as
    r, sent = run_counting("--config", config, "-a", "old", "roster", "migrate", "--to", "new", "--rate", "200/s",
                           "-o", "json", *args)
    return r, [s for s in sent if s[0] in SENDS]


def test_migrate_reestablishes_subscriptions_and_reruns_send_only_what_is_missing(make_user, run_cli, run_counting, tmp_path):  # noqa: F811
    old, new = make_user("mold"), make_user("mnew")
    bob, carol, dave, erin, frank = (make_user("mc") for _ in range(5))
    old.seed([Contact(bob.jid, "Bob", ("Friends",), "both"), Contact(carol.jid, "Carol", (), "from"),
              Contact(dave.jid, None, ("Work",), "to"), Contact(erin.jid, "Erin", (), "to"),
              Contact(new.jid, "me", (), "both")], pending_in=[frank.jid])
    config = _config(tmp_path, {"old": old, "new": new})
    old_before = roster_by_jid(run_cli, old)

    r, sent = _migrate(run_counting, config, "--dry-run")
    assert r.code == 0, r.stderr
    assert sent == [] and "dry run: nothing is sent" in r.stderr
    assert roster_by_jid(run_cli, new) == {}

    r, sent = _migrate(run_counting, config)
    assert r.code == 0, r.stderr
    rows = {row["jid"]: row for row in r.json()}
    assert set(rows) == {bob.jid, carol.jid, dave.jid, erin.jid, frank.jid}  # both own JIDs skipped
    preapproval = rows[carol.jid]["step"] == "preapprove"
    assert rows[bob.jid]["step"] == ("preapprove+request" if preapproval else "request")
    assert rows[carol.jid]["step"] == ("preapprove" if preapproval else "none")
    assert (rows[dave.jid]["step"], rows[erin.jid]["step"]) == ("request", "request")
    assert rows[frank.jid]["copied"] == "none" and "must ask NEW" in rows[frank.jid]["note"]
    assert {row["status"] for jid, row in rows.items() if jid != frank.jid} == {"waiting"}
    assert sorted(sent) == sorted([("roster-set", j) for j in (bob.jid, carol.jid, dave.jid, erin.jid)]
                                  + [("subscribe", j) for j in (bob.jid, dave.jid, erin.jid)]
                                  + ([("subscribed", bob.jid), ("subscribed", carol.jid)] if preapproval else []))
    copied = roster_by_jid(run_cli, new)
    assert (copied[bob.jid]["name"], copied[bob.jid]["groups"]) == ("Bob", ["Friends"])
    assert copied[dave.jid]["groups"] == ["Work"] and copied[erin.jid]["ask"] is True

    # the contacts answer as their clients would: bob and dave approve, bob and carol ask NEW; erin never answers
    send_presences(bob, [(new.jid, "subscribed"), (new.jid, "subscribe")])
    send_presences(carol, [(new.jid, "subscribe")])
    send_presences(dave, [(new.jid, "subscribed")])

    r, sent = _migrate(run_counting, config, "--exit-code")
    assert r.code == 10, r.stderr  # erin is still waiting
    rows = {row["jid"]: row for row in r.json()}
    # with pre-approval the server answered bob and carol itself; without it this run approves them
    assert sorted(sent) == ([] if preapproval else sorted([("subscribed", bob.jid), ("subscribed", carol.jid)]))
    assert {j: rows[j]["status"] for j in (bob.jid, carol.jid, dave.jid, erin.jid)} == {
        bob.jid: "done", carol.jid: "done", dave.jid: "done", erin.jid: "waiting"}
    assert {j: rows[j]["copied"] for j in (bob.jid, carol.jid, dave.jid, erin.jid)} == dict.fromkeys(
        (bob.jid, carol.jid, dave.jid, erin.jid), "unchanged")
    after = roster_by_jid(run_cli, new)
    assert {j: (after[j]["subscription"], after[j]["ask"]) for j in (bob.jid, carol.jid, dave.jid, erin.jid)} == {
        bob.jid: ("both", False), carol.jid: ("from", False), dave.jid: ("to", False), erin.jid: ("none", True)}

    r, sent = _migrate(run_counting, config)
    assert r.code == 0 and sent == []  # idempotent: nothing left to send
    assert roster_by_jid(run_cli, old) == old_before  # nothing on OLD changed
    pending = run_cli(old, "sub", "pending", "-o", "json")
    assert [p["jid"] for p in pending.json() if p["direction"] == "in"] == [frank.jid]


def test_migrate_to_an_unknown_or_the_same_account_is_a_usage_error(make_user, run_cli, tmp_path):
    old = make_user("mold")
    config = _config(tmp_path, {"old": old, "same": old})
    r = run_cli(None, "--config", config, "-a", "old", "roster", "migrate", "--to", "nope")
    assert r.code == 2 and "no such account" in r.stderr
    r = run_cli(None, "--config", config, "-a", "old", "roster", "migrate", "--to", "same")
    assert r.code == 2 and "same account" in r.stderr
    r = run_cli(None, "--config", config, "-a", "old", "roster", "migrate", "--to", "same", "--unsubscribe-old")
    assert r.code == 2 and "--yes" in r.stderr


@pytest.mark.server_only("prosody", reason="unsubscribe-old checked once; the presences are the same on both")
def test_unsubscribe_old_cancels_only_what_new_has(make_user, run_cli, run_counting, tmp_path):  # noqa: F811
    old, new = make_user("mold"), make_user("mnew")
    bob, erin = make_user("mc"), make_user("mc")
    old.seed([Contact(bob.jid, "Bob", (), "to"), Contact(erin.jid, "Erin", (), "to")])
    config = _config(tmp_path, {"old": old, "new": new})
    r, _ = _migrate(run_counting, config)
    assert r.code == 0, r.stderr
    send_presences(bob, [(new.jid, "subscribed")])
    r, sent = _migrate(run_counting, config, "--unsubscribe-old", "--yes")
    assert r.code == 0, r.stderr
    assert sent == [("unsubscribe", bob.jid)]  # erin has not answered NEW: OLD keeps her
    left = roster_by_jid(run_cli, old)
    assert left[bob.jid]["subscription"] == "none" and left[erin.jid]["subscription"] == "to"


def test_announce_publishes_the_moved_statement_readable_by_contacts(make_user, run_cli, run_counting, tmp_path):  # noqa: F811
    from tests.support.peer import pep_item

    old, new, bob = make_user("mold"), make_user("mnew"), make_user("mc")
    old.seed([Contact(bob.jid, "Bob", (), "both")])
    config = _config(tmp_path, {"old": old, "new": new})
    r, sent = _migrate(run_counting, config, "--announce")
    assert r.code == 0, r.stderr
    assert "published the XEP-0283 moved statement" in r.stderr
    items = ET.fromstring(pep_item(bob, old.jid, "urn:xmpp:moved:1"))  # open access: any contact reads it
    assert [e.text for e in items.iter("{urn:xmpp:moved:1}new-jid")] == [new.jid]


def test_migrate_leaves_both_accounts_stored_messages_stored(make_user, run_cli, run_counting, tmp_path):  # noqa: F811
    from tests.support.peer import receive_stored, send_messages

    old, new, bob = make_user("mold"), make_user("mnew"), make_user("mc")
    old.seed([Contact(bob.jid, "Bob", (), "both")])
    send_messages(bob, old.jid, ["for old"])
    send_messages(bob, new.jid, ["for new"])
    r, _ = _migrate(run_counting, _config(tmp_path, {"old": old, "new": new}))
    assert r.code == 0, r.stderr
    assert [m["body"] for m in receive_stored(old, 1)] == ["for old"]
    assert [m["body"] for m in receive_stored(new, 1)] == ["for new"]


@pytest.mark.server_only("prosody", reason="login failures are the same on both servers")
def test_a_failed_login_of_new_sends_nothing(make_user, run_counting, tmp_path):  # noqa: F811
    old, new, bob = make_user("mold"), make_user("mnew"), make_user("mc")
    old.seed([Contact(bob.jid, "Bob", (), "both")])
    r, sent = _migrate(run_counting, _config(tmp_path, {"old": old, "new": new}, wrong=("new",)))
    assert r.code == 3 and new.jid in r.stderr and old.jid not in r.stderr
    assert sent == [] and r.stdout == ""


@pytest.mark.server_only("prosody", reason="option handling, the same on both servers")
def test_old_given_on_the_command_line_lends_nothing_to_new(make_user, run_cli, tmp_path):
    """--jid/--server/--port, XMPPCTL_PORT and XMPPCTL_PASSWORD (OLD's) must not reach NEW's login."""
    from tests.support import free_port

    old, new, bob = make_user("mold"), make_user("mnew"), make_user("mc")
    old.seed([Contact(bob.jid, "Bob", (), "both")])
    config = _config(tmp_path, {"new": new})
    r = run_cli(old, "--config", config, "roster", "migrate", "--to", "new", "--dry-run", "-o", "json",
                env={"XMPPCTL_PORT": str(free_port())})  # a closed port: OLD has --port, NEW its config
    assert r.code == 0, r.stderr
    assert [row["jid"] for row in r.json()] == [bob.jid]
