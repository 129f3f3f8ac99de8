"""group list / members / add / remove / rename / delete against real servers (Prosody and ejabberd)."""

from __future__ import annotations

import pytest

from tests.support.helpers import Terminal, roster_by_jid
from tests.support import Contact

SEED = [
    Contact("bob@example.org", "Bob", ("Friends", "Work"), "both"),
    Contact("carol@example.org", None, ("Work",), "to", ask=True),
    Contact("dave@example.org", "Dave", ("Family",), "from"),
    Contact("erin@example.org", "Erin", (), "none"),
]


@pytest.fixture
def seeded(make_user):
    user = make_user()
    user.seed(SEED)
    return user


def test_list_counts_and_members(seeded, run_cli):
    r = run_cli(seeded, "group", "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json() == [{"group": "Family", "count": 1}, {"group": "Friends", "count": 1}, {"group": "Work", "count": 2}]
    r = run_cli(seeded, "group", "list", "--with-members", "-o", "json")
    assert r.json()[2] == {"group": "Work", "count": 2, "members": ["bob@example.org", "carol@example.org"]}


def test_list_empty_roster(make_user, run_cli):
    r = run_cli(make_user(), "group", "list", "-o", "json")
    assert (r.code, r.json()) == (0, [])


def test_members_lists_items(seeded, run_cli):
    r = run_cli(seeded, "group", "members", "Work", "-o", "json")
    assert r.code == 0, r.stderr
    assert [(i["jid"], i["ask"]) for i in r.json()] == [("bob@example.org", False), ("carol@example.org", True)]
    assert run_cli(seeded, "group", "members", "Nope", "-o", "json").json() == []


def test_add_keeps_other_groups_and_skips_members(seeded, run_cli):
    r = run_cli(seeded, "group", "add", "Friends", "dave@example.org", "bob@example.org", "erin@example.org", "-o", "json")
    assert r.code == 0, r.stderr
    assert {row["jid"]: row["action"] for row in r.json()} == {
        "bob@example.org": "skip", "dave@example.org": "update", "erin@example.org": "update"}
    after = roster_by_jid(run_cli, seeded)
    assert after["dave@example.org"]["groups"] == ["Family", "Friends"]
    assert after["dave@example.org"]["name"] == "Dave" and after["dave@example.org"]["subscription"] == "from"
    assert after["erin@example.org"]["groups"] == ["Friends"]


def test_add_with_unknown_contact_is_partial_failure_exit_7(seeded, run_cli):
    r = run_cli(seeded, "group", "add", "VIP", "erin@example.org", "ghost@example.org", "-o", "json")
    assert r.code == 7
    rows = {row["jid"]: row for row in r.json()}
    assert rows["erin@example.org"]["ok"] is True
    assert (rows["ghost@example.org"]["ok"], rows["ghost@example.org"]["error"]) == (False, "item-not-found")
    assert [d["jid"] for d in r.error()["details"]] == ["ghost@example.org"]
    after = roster_by_jid(run_cli, seeded)
    assert after["erin@example.org"]["groups"] == ["VIP"] and "ghost@example.org" not in after


def test_remove_keeps_contact_and_other_groups(seeded, run_cli):
    r = run_cli(seeded, "group", "remove", "Work", "bob@example.org", "dave@example.org", "-o", "json")
    assert r.code == 0, r.stderr
    assert {row["jid"]: row["action"] for row in r.json()} == {"bob@example.org": "update", "dave@example.org": "skip"}
    after = roster_by_jid(run_cli, seeded)
    assert after["bob@example.org"]["groups"] == ["Friends"] and after["bob@example.org"]["name"] == "Bob"
    assert after["carol@example.org"]["groups"] == ["Work"]


def test_rename_keeps_other_groups(seeded, run_cli):
    r = run_cli(seeded, "group", "rename", "Work", "Job", "-o", "json")
    assert r.code == 0, r.stderr
    assert sorted(row["jid"] for row in r.json()) == ["bob@example.org", "carol@example.org"]
    after = roster_by_jid(run_cli, seeded)
    assert after["bob@example.org"]["groups"] == ["Friends", "Job"] and after["bob@example.org"]["name"] == "Bob"
    assert after["carol@example.org"]["groups"] == ["Job"]
    # the server's state is kept: subscription and pending request are not the client's to send
    assert (after["carol@example.org"]["subscription"], after["carol@example.org"]["ask"]) == ("to", True)
    assert after["dave@example.org"]["groups"] == ["Family"]


def test_rename_into_existing_group_merges(seeded, run_cli):
    r = run_cli(seeded, "group", "rename", "Friends", "Work")
    assert r.code == 0, r.stderr
    after = roster_by_jid(run_cli, seeded)
    assert after["bob@example.org"]["groups"] == ["Work"]
    groups = run_cli(seeded, "group", "list", "-o", "json").json()
    assert groups == [{"group": "Family", "count": 1}, {"group": "Work", "count": 2}]


def test_rename_dry_run_sends_nothing(seeded, run_cli):
    r = run_cli(seeded, "group", "rename", "Work", "Job", "--dry-run", "-o", "json")
    assert r.code == 0, r.stderr
    rows = {row["jid"]: row for row in r.json()}
    assert rows["bob@example.org"]["changes"] == [{"field": "groups", "old": ["Friends", "Work"], "new": ["Friends", "Job"]}]
    assert roster_by_jid(run_cli, seeded)["bob@example.org"]["groups"] == ["Friends", "Work"]


def test_rename_unknown_group_exit_6_and_same_name_exit_2(seeded, run_cli):
    assert run_cli(seeded, "group", "rename", "Nope", "X").code == 6
    assert run_cli(seeded, "group", "rename", "Work", "Work").code == 2
    assert run_cli(seeded, "group", "rename", "Work", " ").code == 2
    assert roster_by_jid(run_cli, seeded)["bob@example.org"]["groups"] == ["Friends", "Work"]


def test_delete_keeps_contacts(seeded, run_cli):
    r = run_cli(seeded, "group", "delete", "Work", "-o", "json")
    assert r.code == 0, r.stderr
    after = roster_by_jid(run_cli, seeded)
    assert len(after) == 4
    assert after["bob@example.org"]["groups"] == ["Friends"] and after["carol@example.org"]["groups"] == []


def test_delete_remove_contacts_needs_yes_without_tty(seeded, run_cli):
    r = run_cli(seeded, "group", "delete", "Work", "--remove-contacts")
    assert r.code == 2 and "--yes" in r.stderr
    assert len(roster_by_jid(run_cli, seeded)) == 4


def test_delete_remove_contacts_removes_them(seeded, run_cli):
    r = run_cli(seeded, "group", "delete", "Work", "--remove-contacts", "--yes", "-o", "json")
    assert r.code == 0, r.stderr
    assert sorted((row["action"], row["jid"]) for row in r.json()) == [
        ("remove", "bob@example.org"), ("remove", "carol@example.org")]
    assert sorted(roster_by_jid(run_cli, seeded)) == ["dave@example.org", "erin@example.org"]


def test_delete_remove_contacts_dry_run_sends_nothing_and_needs_no_yes(seeded, run_cli):
    r = run_cli(seeded, "group", "delete", "Work", "--remove-contacts", "--dry-run", "-o", "json")
    assert r.code == 0, r.stderr
    assert sorted(row["action"] for row in r.json()) == ["remove", "remove"]
    assert len(roster_by_jid(run_cli, seeded)) == 4


def test_many_members_are_pipelined_and_all_rewritten(make_user, run_cli):
    user = make_user()
    user.seed([Contact(f"m{i:03}@example.org", f"M{i}", ("Big", f"Own{i}"), "both") for i in range(120)])
    r = run_cli(user, "group", "rename", "Big", "Huge", "-o", "json")
    assert r.code == 0, r.stderr
    assert len(r.json()) == 120 and all(row["ok"] for row in r.json())
    after = roster_by_jid(run_cli, user)
    assert all(item["groups"] == ["Huge", f"Own{int(jid[1:4])}"] for jid, item in after.items())


@pytest.mark.parametrize("args", [
    ("add", "", "bob@example.org"),
    ("add", "G", "bob@example.org", "not a jid"),
    ("remove", "Work", "bob@example.org/res"),
    ("delete", "\x01"),
])
def test_bad_input_exit_2_nothing_sent(seeded, run_cli, args):
    r = run_cli(seeded, "group", *args)
    assert r.code == 2, r.stderr
    after = roster_by_jid(run_cli, seeded)
    assert after["bob@example.org"]["groups"] == ["Friends", "Work"]



def _run_on_tty(user, *args: str, answer: str):
    """Run xmppctl on a terminal (the confirmation prompt's condition) and answer its prompt."""
    with Terminal(user, *args) as term:
        term.read_until("[y/N]: ")
        term.type(answer)
        return term.finish()


def test_delete_remove_contacts_on_tty_asks_and_no_sends_nothing(seeded, run_cli):
    r = _run_on_tty(seeded, "group", "delete", "Work", "--remove-contacts", "-o", "json", answer="n\n")
    assert r.code == 1, r.stderr
    assert "Remove 2 contact(s)" in r.stderr and "aborted: nothing was changed" in r.stderr
    assert len(roster_by_jid(run_cli, seeded)) == 4


def test_delete_remove_contacts_on_tty_yes_removes(seeded, run_cli):
    r = _run_on_tty(seeded, "group", "delete", "Work", "--remove-contacts", "-o", "json", answer="y\n")
    assert r.code == 0, r.stderr
    assert sorted(roster_by_jid(run_cli, seeded)) == ["dave@example.org", "erin@example.org"]
