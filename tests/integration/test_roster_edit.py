"""roster add / remove / set / show against real servers (Prosody and ejabberd): what is sent, kept, and reported."""

from __future__ import annotations

import pytest

from tests.support.helpers import roster_by_jid
from tests.support import Contact

SEED = [
    Contact("bob@example.org", "Bob", ("Friends", "Work"), "both"),
    Contact("carol@example.org", None, ("Work",), "to"),
    Contact("dave@example.org", "Dave", (), "from"),
]


@pytest.fixture
def seeded(make_user):
    user = make_user()
    user.seed(SEED)
    return user


# ---- add ------------------------------------------------------------------------------------

def test_add_creates_item_with_name_and_groups(make_user, run_cli):
    user = make_user()
    r = run_cli(user, "roster", "add", "New@Example.org", "--name", "Newbie", "-g", "B", "-g", "A", "-g", "A", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json() == [{"action": "add", "jid": "new@example.org", "ok": True, "error": None, "message": None}]
    assert roster_by_jid(run_cli, user)["new@example.org"] == {
        "jid": "new@example.org", "name": "Newbie", "subscription": "none", "ask": False, "groups": ["A", "B"]}


def test_add_existing_updates_only_given_fields_and_keeps_subscription(seeded, run_cli):
    r = run_cli(seeded, "roster", "add", "bob@example.org", "--name", "Robert", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json()[0]["action"] == "update"
    bob = roster_by_jid(run_cli, seeded)["bob@example.org"]
    assert (bob["name"], bob["groups"], bob["subscription"]) == ("Robert", ["Friends", "Work"], "both")


def test_add_existing_unchanged_is_skipped(seeded, run_cli):
    r = run_cli(seeded, "roster", "add", "bob@example.org", "--name", "Bob", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json()[0]["action"] == "skip"


def test_add_subscribe_sends_subscription_request(make_user, run_cli):
    user, other = make_user(), make_user()
    r = run_cli(user, "roster", "add", other.jid, "--subscribe", "-o", "json")
    assert r.code == 0, r.stderr
    assert [row["action"] for row in r.json()] == ["add", "subscribe"]
    # the server marks our outbound request as pending on the item
    assert roster_by_jid(run_cli, user)[other.jid]["ask"] is True


def test_add_dry_run_sends_nothing(make_user, run_cli):
    user = make_user()
    r = run_cli(user, "roster", "add", "x@example.org", "--name", "X", "--subscribe", "--dry-run", "-o", "json")
    assert r.code == 0, r.stderr
    rows = r.json()
    assert rows[0]["action"] == "add" and rows[0]["changes"] == [{"field": "name", "old": None, "new": "X"}]
    assert rows[1]["action"] == "subscribe"
    assert roster_by_jid(run_cli, user) == {}


@pytest.mark.parametrize("args", [
    ("not a jid",),
    ("bob@example.org/res",),
    ("bob@example.org", "--group", ""),
    ("bob@example.org", "--group", "  "),
    ("bob@example.org", "--name", "bad\x07name"),
])
def test_add_bad_input_exit_2_nothing_sent(make_user, run_cli, args):
    user = make_user()
    r = run_cli(user, "roster", "add", *args)
    assert r.code == 2, r.stderr
    assert roster_by_jid(run_cli, user) == {}


# ---- remove ---------------------------------------------------------------------------------

def test_remove_several(seeded, run_cli):
    r = run_cli(seeded, "roster", "remove", "bob@example.org", "carol@example.org", "-o", "json")
    assert r.code == 0, r.stderr
    assert [(row["action"], row["jid"], row["ok"]) for row in r.json()] == [
        ("remove", "bob@example.org", True), ("remove", "carol@example.org", True)]
    assert list(roster_by_jid(run_cli, seeded)) == ["dave@example.org"]


def test_remove_unknown_only_is_exit_6_item_not_found(seeded, run_cli):
    # decided from the fetched roster: ejabberd acknowledges such a remove instead of refusing it
    r = run_cli(seeded, "roster", "remove", "ghost@example.org", "-o", "json")
    assert r.code == 6
    assert r.error()["condition"] == "item-not-found"
    r = run_cli(seeded, "roster", "remove", "ghost@example.org")
    assert r.code == 6 and "item-not-found" in r.stderr
    assert len(roster_by_jid(run_cli, seeded)) == 3


def test_remove_existing_and_unknown_is_partial_failure_exit_7(seeded, run_cli):
    r = run_cli(seeded, "roster", "remove", "bob@example.org", "ghost@example.org", "-o", "json")
    assert r.code == 7
    rows = {row["jid"]: row for row in r.json()}
    assert rows["bob@example.org"]["ok"] is True
    assert (rows["ghost@example.org"]["ok"], rows["ghost@example.org"]["error"]) == (False, "item-not-found")
    err = r.error()
    assert err["error"] == "partial" and err["exit"] == 7
    assert [d["jid"] for d in err["details"]] == ["ghost@example.org"]
    assert "bob@example.org" not in roster_by_jid(run_cli, seeded)


def test_remove_partial_failure_table_names_failed_item(seeded, run_cli):
    r = run_cli(seeded, "roster", "remove", "bob@example.org", "ghost@example.org", "-o", "table")
    assert r.code == 7
    assert "ghost@example.org (item-not-found)" in r.stderr
    assert "item-not-found" in r.stdout


def test_remove_missing_ok_skips_unknown(seeded, run_cli):
    r = run_cli(seeded, "roster", "remove", "bob@example.org", "ghost@example.org", "--missing-ok", "-o", "json")
    assert r.code == 0, r.stderr
    assert {row["jid"]: row["action"] for row in r.json()} == {"bob@example.org": "remove", "ghost@example.org": "skip"}


def test_remove_dry_run_sends_nothing(seeded, run_cli):
    r = run_cli(seeded, "roster", "remove", "bob@example.org", "ghost@example.org", "--dry-run", "-o", "json")
    assert r.code == 7, r.stderr  # a dry run exits as the real run would: ghost is not in the roster
    rows = {row["jid"]: row for row in r.json()}
    assert rows["bob@example.org"]["action"] == "remove"
    assert rows["ghost@example.org"]["action"] == "error" and "item-not-found" in rows["ghost@example.org"]["note"]
    assert len(roster_by_jid(run_cli, seeded)) == 3


def test_remove_bad_jid_exit_2_nothing_sent(seeded, run_cli):
    r = run_cli(seeded, "roster", "remove", "bob@example.org", "@bad")
    assert r.code == 2
    assert len(roster_by_jid(run_cli, seeded)) == 3


# ---- set ------------------------------------------------------------------------------------

def test_set_name_keeps_groups(seeded, run_cli):
    r = run_cli(seeded, "roster", "set", "bob@example.org", "--name", "Robert")
    assert r.code == 0, r.stderr
    bob = roster_by_jid(run_cli, seeded)["bob@example.org"]
    assert (bob["name"], bob["groups"], bob["subscription"]) == ("Robert", ["Friends", "Work"], "both")


def test_set_no_name_keeps_groups(seeded, run_cli):
    assert run_cli(seeded, "roster", "set", "bob@example.org", "--no-name").code == 0
    bob = roster_by_jid(run_cli, seeded)["bob@example.org"]
    assert (bob["name"], bob["groups"]) == (None, ["Friends", "Work"])


def test_set_add_and_remove_group_keep_name_and_other_groups(seeded, run_cli):
    r = run_cli(seeded, "roster", "set", "bob@example.org", "--add-group", "Family", "--remove-group", "Work")
    assert r.code == 0, r.stderr
    bob = roster_by_jid(run_cli, seeded)["bob@example.org"]
    assert (bob["name"], bob["groups"]) == ("Bob", ["Family", "Friends"])


def test_set_group_replaces_and_no_groups_clears(seeded, run_cli):
    assert run_cli(seeded, "roster", "set", "bob@example.org", "-g", "Only").code == 0
    assert roster_by_jid(run_cli, seeded)["bob@example.org"]["groups"] == ["Only"]
    assert run_cli(seeded, "roster", "set", "bob@example.org", "--no-groups").code == 0
    bob = roster_by_jid(run_cli, seeded)["bob@example.org"]
    assert (bob["name"], bob["groups"]) == ("Bob", [])


def test_set_unknown_jid_is_exit_6_item_not_found(seeded, run_cli):
    r = run_cli(seeded, "roster", "set", "ghost@example.org", "--name", "G", "-o", "json")
    assert r.code == 6
    assert r.error()["condition"] == "item-not-found"
    assert "ghost@example.org" not in roster_by_jid(run_cli, seeded)


def test_set_dry_run_sends_nothing(seeded, run_cli):
    r = run_cli(seeded, "roster", "set", "bob@example.org", "--name", "Robert", "--dry-run", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json()[0]["changes"] == [{"field": "name", "old": "Bob", "new": "Robert"}]
    assert roster_by_jid(run_cli, seeded)["bob@example.org"]["name"] == "Bob"


@pytest.mark.parametrize("args", [
    ("--name", "X", "--no-name"),
    ("--group", "A", "--add-group", "B"),
    ("--group", "A", "--no-groups"),
    ("--no-groups", "--remove-group", "B"),
    ("--add-group", "A", "--remove-group", "A"),
    ("--add-group", ""),
    (),
])
def test_set_conflicting_or_missing_options_exit_2(seeded, run_cli, args):
    r = run_cli(seeded, "roster", "set", "bob@example.org", *args)
    assert r.code == 2, r.stderr
    bob = roster_by_jid(run_cli, seeded)["bob@example.org"]
    assert (bob["name"], bob["groups"]) == ("Bob", ["Friends", "Work"])


# ---- show -----------------------------------------------------------------------------------

def test_show_one_item_all_fields(seeded, run_cli):
    r = run_cli(seeded, "roster", "show", "Carol@Example.org", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json() == {"jid": "carol@example.org", "name": None, "subscription": "to", "ask": False, "groups": ["Work"]}
    r = run_cli(seeded, "roster", "show", "bob@example.org", "-o", "table")
    assert "Friends, Work" in r.stdout and "both" in r.stdout


def test_show_unknown_is_exit_6(seeded, run_cli):
    r = run_cli(seeded, "roster", "show", "ghost@example.org")
    assert r.code == 6 and "item-not-found" in r.stderr


@pytest.mark.server_only("prosody", reason="Prosody refuses a roster set for the user's own JID (not-allowed); ejabberd accepts it")
def test_add_refused_by_server_is_exit_6_with_condition(make_user, run_cli):
    user = make_user()
    r = run_cli(user, "roster", "add", user.jid, "-o", "json")
    assert r.code == 6
    assert r.error()["condition"] == "not-allowed"
    assert r.json()[0]["ok"] is False
