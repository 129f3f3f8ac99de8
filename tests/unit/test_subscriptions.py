"""Pure subscription logic: selection, glob matching, pending lists, roster items, the presence watcher."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from xmppctl.errors import ServerRefused, UsageError
from xmppctl.roster.items import RosterItem, item_element
from xmppctl.subscriptions import (
    PresenceWatcher,
    SubscriptionResult,
    check_not_self,
    matches,
    merged_item,
    pending_requests,
    require_preapproval,
    select_pending,
    validate_patterns,
)

PENDING = ["a@example.org", "b@example.org", "c@example.net", "zed@other.org"]


def test_match_is_glob_on_whole_jid_and_case_insensitive():
    pats = validate_patterns(["*@Example.ORG"])
    assert matches("a@example.org", pats)
    assert not matches("a@example.org.evil", pats)
    assert not matches("a@sub.example.net", pats)


def test_match_question_mark_and_character_class():
    assert matches("b@example.org", validate_patterns(["[ab]@example.???"]))
    assert not matches("c@example.org", validate_patterns(["[ab]@example.???"]))


def test_empty_pattern_is_usage_error():
    with pytest.raises(UsageError):
        validate_patterns(["  "])


def test_select_match_takes_only_matching_pending_sorted():
    chosen, missing = select_pending(reversed(PENDING), patterns=validate_patterns(["*@example.org"]))
    assert (chosen, missing) == (["a@example.org", "b@example.org"], [])


def test_select_all_takes_every_pending():
    assert select_pending(PENDING, all_=True) == (sorted(PENDING), [])


def test_select_named_keeps_order_and_reports_not_pending_once():
    chosen, missing = select_pending(PENDING, jids=["zed@other.org", "x@nowhere.org", "a@example.org", "x@nowhere.org"])
    assert chosen == ["zed@other.org", "a@example.org"]
    assert missing == ["x@nowhere.org"]


def test_select_named_and_pattern_do_not_duplicate():
    chosen, _ = select_pending(PENDING, jids=["b@example.org"], patterns=validate_patterns(["*@example.org"]))
    assert chosen == ["b@example.org", "a@example.org"]


def test_select_with_nothing_pending_selects_nothing():
    assert select_pending([], all_=True) == ([], [])


def test_pending_requests_inbound_first_then_outbound_from_ask():
    roster = [RosterItem("y@x.org", subscription="from", ask=True), RosterItem("k@x.org", subscription="to"),
              RosterItem("b@x.org", ask=True)]
    inbound = {"k@x.org": ("Kay", "hello"), "a@x.org": (None, None)}
    rows = [p.to_dict() for p in pending_requests(inbound, roster)]
    assert rows == [
        {"direction": "in", "jid": "a@x.org", "subscription": "none", "nick": None, "message": None},
        {"direction": "in", "jid": "k@x.org", "subscription": "to", "nick": "Kay", "message": "hello"},
        {"direction": "out", "jid": "b@x.org", "subscription": "none", "nick": None, "message": None},
        {"direction": "out", "jid": "y@x.org", "subscription": "from", "nick": None, "message": None},
    ]


def test_merged_item_keeps_name_and_adds_groups():
    current = RosterItem("b@x.org", "Bob", "both", False, ("Work",))
    item = merged_item("b@x.org", current, None, add=["Friends"])
    assert (item.name, item.groups) == ("Bob", ("Friends", "Work"))


def test_merged_item_group_replaces_like_roster_add():
    current = RosterItem("b@x.org", "Bob", "both", False, ("Work",))
    item = merged_item("b@x.org", current, None, ["Friends"])
    assert (item.name, item.groups) == ("Bob", ("Friends",))


def test_merged_item_is_none_when_nothing_changes():
    current = RosterItem("b@x.org", "Bob", "both", False, ("Work",))
    assert merged_item("b@x.org", current, "Bob", ["Work"]) is None
    assert merged_item("b@x.org", current, None) is None
    assert merged_item("b@x.org", current, None, add=["Work"]) is None
    assert merged_item("new@x.org", None, None) is None


def test_merged_item_for_absent_contact():
    item = merged_item("new@x.org", None, "New", ["G"])
    assert (item.jid, item.name, item.groups) == ("new@x.org", "New", ("G",))


def test_merged_item_keeps_what_other_clients_stored_on_the_item():
    from dataclasses import replace

    extra = ("<ns0:color xmlns:ns0=\"urn:example:color\">teal</ns0:color>",)
    current = replace(RosterItem("b@x.org", "Bob", "to", False, ("Work",)), extra_children=extra)
    for name, groups in (("Robert", []), (None, ["Friends"])):
        item = merged_item("b@x.org", current, name, groups)
        assert item.extra_children == extra
        assert item_element(item).find("{urn:example:color}color").text == "teal"


def test_roster_set_has_one_item_and_never_server_owned_attributes():
    items = [item_element(RosterItem("b@x.org", "Bob", "both", True, ("A", "B")))]
    assert items[0].attrib == {"jid": "b@x.org", "name": "Bob"}
    assert [g.text for g in items[0]] == ["A", "B"]


def test_own_jid_is_refused():
    with pytest.raises(UsageError):
        check_not_self("me@x.org", ["you@x.org", "me@x.org"])
    check_not_self("me@x.org", ["you@x.org"])


def test_watcher_records_requests_with_nick_and_status_and_errors():
    w = PresenceWatcher()
    w(ET.fromstring("<presence xmlns='jabber:client' from='A@x.org/r' type='subscribe'>"
                    "<status>hi</status><nick xmlns='http://jabber.org/protocol/nick'>Ay</nick></presence>"))
    w(ET.fromstring("<presence xmlns='jabber:client' from='b@y.org' type='error'><error type='cancel'>"
                    "<remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"))
    w(ET.fromstring("<presence xmlns='jabber:client' from='c@x.org'/>"))
    w(ET.fromstring("<message xmlns='jabber:client' from='d@x.org' type='subscribe'/>"))
    assert w.requests == {"a@x.org": ("Ay", "hi")}
    assert w.errors == {"b@y.org": "remote-server-not-found"}


def test_watcher_forgets_a_withdrawn_request():
    w = PresenceWatcher()
    w(ET.fromstring("<presence xmlns='jabber:client' from='a@x.org' type='subscribe'/>"))
    w(ET.fromstring("<presence xmlns='jabber:client' from='a@x.org' type='unsubscribe'/>"))
    assert w.requests == {}


def test_result_failed_only_for_error_and_not_pending():
    assert SubscriptionResult("a@x", (), "not-pending").failed
    assert SubscriptionResult("a@x", ("subscribe",), "error", error="forbidden").failed
    assert not SubscriptionResult("a@x", ("subscribe",), "sent", "none", True).failed
    assert not SubscriptionResult("a@x", ("subscribe",), "dry-run").failed


def test_preapproval_requires_the_stream_feature():
    with pytest.raises(ServerRefused, match="server does not support pre-approval") as exc:
        require_preapproval(SimpleNamespace(has_feature=lambda ns, name: False))
    assert exc.value.exit_code == 6
    require_preapproval(SimpleNamespace(has_feature=lambda ns, name: (ns, name) == ("urn:xmpp:features:pre-approval", "sub")))


# ---- answer_pending against a fake session -------------------------------------------------


def _answer(fake, kind: str, **kwargs):
    import asyncio

    from xmppctl.subscriptions import answer_pending

    async def go():
        watcher = PresenceWatcher()
        async with fake.factory(None, stanza_hook=watcher) as s:
            return await answer_pending(s, watcher, kind, settle=0.0, **kwargs)

    return asyncio.run(go())


def test_answer_pending_answers_only_pending_jids_and_names_the_others():
    from tests.support.fakes import FakeSession

    fake = FakeSession(pending_in=["a@example.org", "b@example.org", "c@example.org"])
    outcome = _answer(fake, "approve", jids=["b@example.org", "nobody@example.org"])
    assert [(r.jid, r.status) for r in outcome.results] == [("b@example.org", "sent"), ("nobody@example.org", "not-pending")]
    assert outcome.others == ["a@example.org", "c@example.org"] and outcome.blocks is None
    assert [s for s in fake.sent if s[0] == "subscription"] == [("subscription", "b@example.org", "subscribed")]


def test_answer_pending_dry_run_sends_no_answer():
    from tests.support.fakes import FakeSession

    fake = FakeSession(pending_in=["a@example.org"])
    outcome = _answer(fake, "deny", all_=True, dry_run=True)
    assert [(r.jid, r.sent, r.status) for r in outcome.results] == [("a@example.org", ("unsubscribed",), "dry-run")]
    assert outcome.others == [] and not [s for s in fake.sent if s[0] == "subscription"]


def test_deny_with_block_is_refused_before_any_presence_where_blocking_is_missing():
    from tests.support.fakes import FakeSession

    fake = FakeSession(pending_in=["a@example.org"])
    with pytest.raises(ServerRefused, match="block"):
        _answer(fake, "deny", all_=True, block=True)
    assert fake.sent == [], "only the disco query went out"
