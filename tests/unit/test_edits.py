"""The library workflows without the CLI: pure edit plans, and sync against a FakeSession."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.support.fakes import FakeSession
from xmppctl.roster.edits import plan_add, plan_group_delete, plan_group_members, plan_remove, plan_set
from xmppctl.errors import ServerRefused, UsageError, XmppctlError
from xmppctl.roster.items import RosterItem
from xmppctl.roster.workflows import ImportOptions, edit_roster, import_roster

A = replace(RosterItem("a@x.org", "A", "both", False, ("G",)), extra_children=("<c xmlns='urn:e'/>",))
B = RosterItem("b@x.org", None, "none", False, ())


def test_add_of_an_item_already_as_asked_is_a_skip_but_still_subscribes():
    plan = plan_add([A], "a@x.org", name="A", groups=["G"], subscribe=True)
    assert (plan.changes, plan.skipped, plan.subscribe) == ([], [("a@x.org", "already in the roster as asked")], ["a@x.org"])


def test_set_rewrites_the_current_item_keeping_foreign_children():
    [change] = plan_set([A], "a@x.org", add=["H"]).changes
    assert change.after.groups == ("G", "H") and change.after.extra_children == A.extra_children


def test_remove_refuses_unknown_jids_unless_missing_ok():
    plan = plan_remove([A], ["a@x.org", "z@x.org"])
    assert [c.jid for c in plan.changes] == ["a@x.org"]
    assert [(r.change.jid, r.error) for r in plan.refused] == [("z@x.org", "item-not-found")]
    assert plan_remove([A], ["z@x.org"], missing_ok=True).skipped == [("z@x.org", "not in the roster (--missing-ok)")]


def test_group_members_skip_those_already_right_and_refuse_strangers():
    plan = plan_group_members([A, B], "G", ["a@x.org", "b@x.org", "z@x.org"], add=True)
    assert [c.jid for c in plan.changes] == ["b@x.org"]
    assert plan.skipped == [("a@x.org", "already in 'G'")]
    assert [r.change.jid for r in plan.refused] == ["z@x.org"]


def test_deleting_a_group_nobody_is_in_is_item_not_found():
    with pytest.raises(ServerRefused) as caught:
        plan_group_delete([A, B], "Nope")
    assert caught.value.condition == "item-not-found"


def test_edit_roster_declined_sends_nothing():
    fake = FakeSession.with_roster(A)

    async def no(_plan):
        return False

    with pytest.raises(XmppctlError, match="aborted"):
        asyncio.run(edit_roster(fake, lambda cur: plan_remove(cur, ["a@x.org"]), dry_run=False, confirm=no))
    assert fake.sent == []


def test_import_backs_up_before_the_first_set_and_reports_as_it_goes():
    fake = FakeSession.with_roster(A, B)
    events: list[str] = []
    seen: list[int] = []

    def backup(items):
        events.append(f"backup {len(items)} sent={len(fake.sent)}")
        return "roster-backup.toml"

    opts = ImportOptions(prune=True, subscribe=True, rate=1000)
    report = asyncio.run(import_roster(fake, [RosterItem("c@x.org")], opts, backup=backup,
                                       progress=lambda r: seen.append(len(r.results) + len(r.subscribed))))
    assert events == ["backup 2 sent=0"] and report.backup == "roster-backup.toml"
    assert report.applied() == {"add": 1, "update": 0, "remove": 2, "failed": 0}
    assert report.subscribed == ["c@x.org"] and fake.sent[-1] == ("subscription", "c@x.org", "subscribe")
    assert seen == [0, 1, 2, 3, 4]


def test_import_guards_refuse_before_anything_is_sent():
    fake = FakeSession.with_roster(A, B)
    with pytest.raises(UsageError, match="no contacts"):
        asyncio.run(import_roster(fake, [], ImportOptions(prune=True)))
    with pytest.raises(UsageError, match="more than --max-remove 1"):
        asyncio.run(import_roster(fake, [], ImportOptions(prune=True, allow_empty=True, max_remove=1)))
    assert fake.sent == []
