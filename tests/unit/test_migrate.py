"""roster migrate's pure parts: the plan, the report, the state of pre-approvals, the stanzas."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from xmppctl.migrate import (
    announce_element,
    load_preapproved,
    moved_element,
    plan_migration,
    report,
    save_preapproved,
    state_path,
    subscription_rows,
    unsubscribe_old_plan,
)
from xmppctl.roster.items import RosterItem

OLD, NEW = "me@old.example", "me@new.example"


def item(jid, sub="none", ask=False, name=None, groups=()):
    return RosterItem(jid, name, sub, ask, tuple(groups))


def by_jid(plan):
    return {p.jid: p for p in plan.contacts}


def test_each_direction_gets_its_step():
    old = [item("both@x", "both", name="B", groups=["G"]), item("from@x", "from"), item("to@x", "to"),
           item("none@x"), item("asked@x", "none", ask=True)]
    plan = by_jid(plan_migration(old, [], old_jid=OLD, new_jid=NEW, preapproval=True))
    assert {j: p.step for j, p in plan.items()} == {
        "both@x": "preapprove+request", "from@x": "preapprove", "to@x": "request", "none@x": "none",
        "asked@x": "request"}
    assert plan["both@x"].change.after == RosterItem("both@x", "B", groups=("G",))
    assert all(p.copied == "add" for p in plan.values())


def test_without_preapproval_a_waiting_request_is_approved_and_others_wait():
    old = [item("a@x", "from"), item("b@x", "both")]
    plan = by_jid(plan_migration(old, [], old_jid=OLD, new_jid=NEW, new_pending_in=["a@x"], preapproval=False))
    assert plan["a@x"].step == "approve"
    assert plan["b@x"].step == "request"  # nothing to send for the 'from' half until b asks


def test_second_run_sends_only_what_is_missing():
    old = [item("a@x", "both", name="A", groups=["G"]), item("b@x", "to"), item("c@x", "from")]
    new = [item("a@x", "both", name="A", groups=["G"]), item("b@x", "none", ask=True), item("c@x", "none")]
    plan = plan_migration(old, new, old_jid=OLD, new_jid=NEW, preapproval=True, preapproved=["c@x"])
    assert plan.sends == 0
    assert [p.step for p in plan.contacts] == ["none", "none", "none"]


def test_new_items_are_merged_never_removed_and_own_jids_skipped():
    old = [item("a@x", name="Old name", groups=["Work"]), item("b@x", name="Bee"), item(NEW, "both"), item(OLD)]
    new = [item("a@x", name="Mine", groups=["Friends"]), item("b@x"), item("only-new@x")]
    plan = by_jid(plan_migration(old, new, old_jid=OLD, new_jid=NEW))
    assert set(plan) == {"a@x", "b@x"}
    assert plan["a@x"].change.after == RosterItem("a@x", "Mine", groups=("Friends", "Work"))
    assert plan["b@x"].change.after.name == "Bee"


def test_requests_pending_on_old_are_listed_not_copied():
    plan = by_jid(plan_migration([], [], old_jid=OLD, new_jid=NEW, old_pending_in=["p@x"]))
    assert plan["p@x"].pending_on_old and plan["p@x"].change is None and plan["p@x"].step == "none"
    row = report(plan_migration([], [], old_jid=OLD, new_jid=NEW, old_pending_in=["p@x"]), {})[0]
    assert (row.copied, row.status) == ("none", "done") and "must ask NEW" in row.note


def test_report_status_follows_new_subscription():
    old = [item("a@x", "both"), item("b@x", "to"), item("c@x", "from")]
    plan = plan_migration(old, [], old_jid=OLD, new_jid=NEW, preapproval=True)
    rows = {r.jid: r for r in report(plan, {"a@x": item("a@x", "both"), "b@x": item("b@x", "none", ask=True),
                                            "c@x": item("c@x", "from")})}
    assert [rows[j].status for j in ("a@x", "b@x", "c@x")] == ["done", "waiting", "done"]
    assert rows["b@x"].new_subscription == "none+ask"
    failed = report(plan, {}, errors={"b@x": "remote-server-not-found"})
    assert [r.status for r in failed] == ["waiting", "failed", "waiting"]


def test_unsubscribe_old_only_for_contacts_done_on_new():
    old = [item("a@x", "both"), item("b@x", "to"), item("c@x", "from")]
    plan = plan_migration(old, [], old_jid=OLD, new_jid=NEW, preapproval=True)
    rows = report(plan, {"a@x": item("a@x", "both"), "c@x": item("c@x", "from")})
    assert unsubscribe_old_plan(rows, old) == [("a@x", ("unsubscribe", "unsubscribed")), ("c@x", ("unsubscribed",))]


def test_preapproval_state_round_trips(tmp_path):
    path = state_path(OLD, NEW, {"XDG_DATA_HOME": str(tmp_path)})
    assert path.parent == tmp_path / "xmppctl" / "migrations"
    assert load_preapproved(path) == set()
    save_preapproved(path, OLD, NEW, ["b@x", "a@x"])
    assert load_preapproved(path) == {"a@x", "b@x"}
    path.write_text("{not json")
    assert load_preapproved(path) == set()


def test_moved_and_announce_elements():
    assert ET.tostring(moved_element("old-jid", OLD)).decode() == (
        '<ns0:moved xmlns:ns0="urn:xmpp:moved:1"><ns0:old-jid>me@old.example</ns0:old-jid></ns0:moved>')
    pubsub = announce_element(NEW)
    publish = pubsub.find("{http://jabber.org/protocol/pubsub}publish")
    assert publish.get("node") == "urn:xmpp:moved:1"
    assert publish.findtext(".//{urn:xmpp:moved:1}new-jid") == NEW
    values = [v.text for v in pubsub.iter("{jabber:x:data}value")]
    assert values == ["http://jabber.org/protocol/pubsub#publish-options", "open"]


def test_diff_reports_subscription_and_pending_from_a_file():
    rows = subscription_rows([item("a@x", "both"), item("b@x", "to")],
                             [item("a@x", "both"), item("b@x", "both"), item("c@x", "none", ask=True)], ["d@x"])
    assert [(r["action"], r["jid"]) for r in rows] == [("subscription", "b@x"), ("subscription", "c@x"), ("pending", "d@x")]
    assert rows[1]["changes"] == [{"field": "subscription", "old": "none", "new": "none+ask"}]
