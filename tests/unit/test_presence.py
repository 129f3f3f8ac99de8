"""Pure presence logic: validation, stanza parsing, the probe's bookkeeping, watch events."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from xmppctl.errors import UsageError
from xmppctl.presence import (
    PresenceRow,
    PresenceInfo,
    ProbeCollector,
    WatchFilter,
    check_priority,
    make_request,
    not_online,
    parse_presence,
    parse_show,
    select_targets,
    to_event,
)
from xmppctl.cli.commands.presence import parse_duration
from xmppctl.roster.items import RosterItem

ME = "me@example.org"


def stanza(xml: str) -> ET.Element:
    return ET.fromstring(f"<wrap xmlns='jabber:client' xmlns:d='urn:xmpp:delay'>{xml}</wrap>")[0]


@pytest.mark.parametrize("value, expected", [("chat", "chat"), ("AWAY", "away"), ("xa", "xa"), ("dnd", "dnd"),
                                             ("available", None), (None, None)])
def test_show_accepts_rfc_values_and_available(value, expected):
    assert parse_show(value) == expected


@pytest.mark.parametrize("value", ["busy", "", "online", "unavailable"])
def test_show_rejects_anything_else(value):
    with pytest.raises(UsageError):
        parse_show(value)


@pytest.mark.parametrize("value", [-128, 0, 127])
def test_priority_bounds_are_the_rfcs(value):
    assert check_priority(value) == value


@pytest.mark.parametrize("value", [-129, 128, True])
def test_priority_out_of_range_is_usage_error(value):
    with pytest.raises(UsageError):
        check_priority(value)


def test_status_with_control_character_is_rejected():
    with pytest.raises(UsageError, match="--status: contains U\\+0007"):
        make_request(status="bad\x07bell")
    assert make_request(status="tab\tand\nnewline").status == "tab\tand\nnewline"


@pytest.mark.parametrize("text, seconds", [("30", 30), ("30s", 30), ("1.5m", 90), ("1h30m", 5400), ("250ms", 0.25), ("2d", 172800)])
def test_durations(text, seconds):
    assert parse_duration(text, option="--until") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "0", "soon", "5 m", "-3", "1x", "forever"])
def test_bad_durations(text):
    with pytest.raises(UsageError):
        parse_duration(text, option="--until")


def test_forever_only_where_allowed():
    assert parse_duration("forever", option="--hold", allow_forever=True) is None


def test_make_request_dedupes_targets_and_rejects_show_with_unavailable():
    req = make_request(show="dnd", priority=4, to=["Bob@Example.org", "bob@example.org", "room@conf.example.org/nick"])
    assert (req.type, req.show, req.priority) == ("available", "dnd", 4)
    assert req.to == ("bob@example.org", "room@conf.example.org/nick")
    with pytest.raises(UsageError):
        make_request(show="away", unavailable=True)
    assert make_request(unavailable=True, status="bye").type == "unavailable"


def test_parse_available_presence_with_delay():
    info = parse_presence(stanza(
        "<presence from='Bob@Example.org/phone'><show>dnd</show><status>busy</status><priority>5</priority>"
        "<d:delay stamp='2024-01-02T03:04:05Z' from='example.org'/></presence>"))
    assert info == PresenceInfo(jid="bob@example.org", resource="phone", type="available", show="dnd",
                                status="busy", priority=5, since="2024-01-02T03:04:05Z")


def test_parse_treats_unknown_show_as_available_and_clamps_priority():
    info = parse_presence(stanza("<presence from='b@x/r'><show>busy</show><priority>300</priority></presence>"))
    assert (info.show, info.priority) == (None, 127)
    assert parse_presence(stanza("<presence from='b@x/r'><priority>junk</priority></presence>")).priority == 0


def test_parse_error_presence_condition():
    info = parse_presence(stanza(
        "<presence from='eve@example.org' type='error'><error type='cancel'>"
        "<remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"))
    assert (info.type, info.error) == ("error", "remote-server-not-found")


def test_parse_ignores_non_presence_and_missing_sender():
    assert parse_presence(stanza("<message from='a@b'/>")) is None
    assert parse_presence(stanza("<presence/>")) is None


ROSTER = [
    RosterItem("bob@x", subscription="both", groups=("Team",)),
    RosterItem("carol@x", subscription="to"),
    RosterItem("dave@x", subscription="from"),
    RosterItem("erin@x", subscription="none", ask=True, groups=("Team",)),
]


def info(jid: str, resource: str = "", type: str = "available", **kw) -> PresenceInfo:
    return PresenceInfo(jid=jid, resource=resource, type=type, **kw)


def test_targets_default_to_the_whole_roster():
    assert select_targets(ROSTER) == ["bob@x", "carol@x", "dave@x", "erin@x"]


def test_targets_named_plus_group_members():
    assert select_targets(ROSTER, ["Zed@X"], ["Team"]) == ["zed@x", "bob@x", "erin@x"]


def test_only_to_and_both_are_expected_to_answer():
    c = ProbeCollector(ME, select_targets(ROSTER, ["zed@x"], ["Team"]) + ["carol@x", "dave@x"], ROSTER)
    assert c.expected == {"bob@x", "carol@x"}
    states = {r.jid: r.state for r in c.rows()}
    assert states == {"zed@x": "not-in-roster", "bob@x": "timeout", "carol@x": "timeout", "dave@x": "no-subscription",
                      "erin@x": "no-subscription"}


def test_done_when_every_expected_contact_answered():
    c = ProbeCollector(ME, ["bob@x", "carol@x"], ROSTER)
    c.feed(info("bob@x", "phone"))
    assert not c.done
    c.feed(info("dave@x", "r"))  # not expected: no effect
    c.feed(info("me@example.org", "other"))  # our own resources are no contact
    c.feed(info("carol@x", type="subscribe"))  # a subscription request is no answer
    assert not c.done
    c.feed(info("carol@x", type="unavailable"))
    assert c.done


def test_resources_sorted_by_priority_then_name():
    c = ProbeCollector(ME, ["bob@x"], ROSTER)
    c.feed(info("bob@x", "b", show="away", priority=1))
    c.feed(info("bob@x", "a", priority=1))
    c.feed(info("bob@x", "c", show="dnd", priority=9, status="busy", since="2024-01-01T00:00:00Z"))
    rows = c.rows()
    assert [(r.resource, r.show, r.priority) for r in rows] == [("c", "dnd", 9), ("a", "available", 1), ("b", "away", 1)]
    assert rows[0].since == "2024-01-01T00:00:00Z" and rows[0].status == "busy"


def test_resource_going_unavailable_leaves_the_others_and_last_one_makes_offline():
    c = ProbeCollector(ME, ["bob@x"], ROSTER)
    c.feed(info("bob@x", "a"))
    c.feed(info("bob@x", "b"))
    c.feed(info("bob@x", "a", type="unavailable"))
    assert [r.resource for r in c.rows()] == ["b"]
    c.feed(info("bob@x", "b", type="unavailable", status="bye"))
    [row] = c.rows()
    assert (row.state, row.status) == ("offline", "bye")


def test_error_and_unsubscribed_answers():
    c = ProbeCollector(ME, ["bob@x", "carol@x"], ROSTER)
    c.feed(info("bob@x", type="error", error="remote-server-not-found", error_text="no s2s"))
    c.feed(info("carol@x", type="unsubscribed"))
    assert c.done
    rows = {r.jid: r for r in c.rows()}
    assert (rows["bob@x"].state, rows["bob@x"].error, rows["bob@x"].status) == ("error", "remote-server-not-found", "no s2s")
    assert rows["carol@x"].state == "no-subscription"


def test_error_after_an_available_resource_keeps_it_online():
    c = ProbeCollector(ME, ["bob@x"], ROSTER)
    c.feed(info("bob@x", "a"))
    c.feed(info("bob@x", type="error", error="not-allowed"))
    assert [r.state for r in c.rows()] == ["online"]


def test_watch_events_mark_subscriptions_and_show_only_for_available():
    at = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    ev = to_event(info("bob@x", type="subscribe", status="let me in"), at)
    assert (ev.kind, ev.type, ev.show, ev.priority, ev.resource, ev.at) == ("subscription", "subscribe", None, None, None, "2024-05-06T07:08:09Z")
    ev = to_event(info("bob@x", "r", priority=2), at)
    assert (ev.kind, ev.show, ev.priority) == ("presence", "available", 2)
    assert to_event(info("bob@x", type="unavailable"), at).show is None
    assert to_event(info("bob@x", type="probe"), at) is None


def test_watch_filter_is_any_of_jids_or_group_members():
    assert WatchFilter().matches("anyone@x")
    f = WatchFilter(jids=frozenset({"a@x"}), group_members=frozenset({"b@x"}))
    assert f.matches("a@x") and f.matches("b@x") and not f.matches("c@x")
    assert not WatchFilter(group_members=frozenset()).matches("a@x")


NOW = datetime(2024, 5, 6, 12, 0, 0, tzinfo=timezone.utc)


def test_last_activity_with_seconds_or_text_settles_a_silent_contact_as_offline():
    c = ProbeCollector(ME, ["bob@x", "carol@x"], ROSTER)
    assert c.settle_offline("bob@x", 90, None, NOW)
    assert c.settle_offline("carol@x", 0, "Registered but didn't login", NOW)
    assert c.done
    rows = {r.jid: r for r in c.rows()}
    assert (rows["bob@x"].state, rows["bob@x"].last_seen, rows["bob@x"].idle) == ("offline", "2024-05-06T11:58:30Z", 90)
    assert rows["carol@x"].status == "Registered but didn't login"


def test_last_activity_zero_without_text_proves_nothing():
    # XEP-0012: that is what an online contact answers; its presence may still be on the way
    c = ProbeCollector(ME, ["bob@x"], ROSTER)
    assert not c.settle_offline("bob@x", 0, None, NOW)
    assert c.unanswered == {"bob@x"}


def test_last_activity_does_not_override_a_presence_answer():
    c = ProbeCollector(ME, ["bob@x"], ROSTER)
    c.feed(info("bob@x", "phone"))
    assert not c.settle_offline("bob@x", 500, "gone", NOW)
    assert [r.state for r in c.rows()] == ["online"]


# ---- XEP-0012 answers are remote input: absurd counts are unknown, never a crash ---------------

LATER = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)


def last_answer(seconds: str, text: str = "") -> ET.Element:
    return ET.fromstring(f"<iq xmlns='jabber:client' type='result'><query xmlns='jabber:iq:last' seconds='{seconds}'>"
                         f"{text}</query></iq>")


@pytest.mark.parametrize("seconds", [str(10**20), str(10**12), "-5", "abc", "", "1" * 5000])
def test_absurd_last_activity_counts_are_unknown(seconds):
    from xmppctl.presence import parse_last_activity

    assert parse_last_activity(last_answer(seconds), LATER) is None


def test_plausible_last_activity_counts_are_kept():
    from xmppctl.presence import parse_last_activity

    assert parse_last_activity(last_answer("90", "gone fishing"), LATER) == (90, "gone fishing")
    since_1970 = int((LATER - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds())
    assert parse_last_activity(last_answer(str(since_1970)), LATER) == (since_1970, None)
    assert parse_last_activity(None, LATER) is None


class _AnsweringSession:
    """Stands in for a session whose contact's server answers every XEP-0012 query with *seconds*."""

    def __init__(self, seconds: str):
        self.seconds = seconds

    async def query(self, iq_type, payload=None, **kwargs):
        return last_answer(self.seconds, "bye")


def test_probe_last_with_a_huge_count_leaves_the_row_without_last_seen():
    import asyncio

    from xmppctl.presence import PresenceRow, add_last_activity

    rows = [PresenceRow(jid="old@x.org", state="offline")]
    [row] = asyncio.run(add_last_activity(_AnsweringSession(str(10**20)), rows))  # OverflowError before
    assert (row.last_seen, row.idle, row.status) == (None, None, None)
    [row] = asyncio.run(add_last_activity(_AnsweringSession("60"), rows))
    assert row.idle == 60 and row.status == "bye" and row.last_seen.endswith("Z")


def test_not_online_lists_contacts_without_an_online_resource():
    rows = [PresenceRow("a@x", "online", resource="r1"), PresenceRow("a@x", "online", resource="r2"),
            PresenceRow("c@x", "timeout"), PresenceRow("b@x", "offline"), PresenceRow("d@x", "no-subscription")]
    assert not_online(rows) == ["b@x", "c@x", "d@x"]
    assert not_online(rows[:2]) == [] and not_online([]) == []


def test_rows_say_whether_our_own_request_is_pending():
    c = ProbeCollector(ME, ["bob@x", "dave@x", "erin@x", "zed@x"], ROSTER)
    c.feed(info("bob@x", "phone"))
    assert {r.jid: (r.state, r.ask) for r in c.rows()} == {
        "bob@x": ("online", False), "dave@x": ("no-subscription", False),
        "erin@x": ("no-subscription", True), "zed@x": ("not-in-roster", None)}


def test_parse_reads_caps_and_idle():
    el = stanza("<presence from='b@x/r'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://c.example' ver='v='/>"
                "<idle xmlns='urn:xmpp:idle:1' since='2026-01-01T00:00:00Z'/></presence>")
    p = parse_presence(el)
    assert (p.caps_node, p.caps_ver, p.idle_since) == ("https://c.example", "v=", "2026-01-01T00:00:00Z")
    assert parse_presence(stanza("<presence from='b@x/r'/>")).caps_node is None


@pytest.mark.parametrize(("xml", "expected"), [
    ("<query xmlns='jabber:iq:version'><name>Gajim</name><version>1.8</version></query>", "Gajim 1.8"),
    ("<query xmlns='jabber:iq:version'><name>Bot</name></query>", "Bot"),
    ("<query xmlns='jabber:iq:version'/>", None),
    ("<query xmlns='http://jabber.org/protocol/disco#info'><identity category='account' type='registered' name='A'/>"
     "<identity category='client' type='pc' name='Dino'/></query>", "Dino"),
    ("<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='pc' name='Dino'/>"
     "<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>urn:xmpp:dataforms:softwareinfo</value></field>"
     "<field var='software'><value>Dino</value></field><field var='software_version'><value>0.4</value></field></x></query>",
     "Dino 0.4"),
    ("<query xmlns='http://jabber.org/protocol/disco#info'/>", None),
])
def test_describe_software(xml, expected):
    from xmppctl.presence.probe import describe_software

    assert describe_software(ET.fromstring(f"<iq xmlns='jabber:client'>{xml}</iq>")) == expected


def test_details_never_wait_past_the_deadline():
    import asyncio
    import time

    from xmppctl.presence.probe import add_client_software

    class Silent:  # a contact's client that never answers
        async def query(self, *args, **kwargs):
            await asyncio.Event().wait()

    row = PresenceRow("b@x", "online", resource="r")
    rows = asyncio.run(add_client_software(Silent(), [row], {"b@x": {"r": info("b@x", "r")}}, time.monotonic() + 0.05))
    assert rows == [row]  # client unknown, and it returned


def test_probe_skips_presences_of_contacts_it_was_not_asked_about_as_parsing_would():
    c = ProbeCollector(ME, ["bob@x"], ROSTER)
    assert c.wanted("bob@x/phone") and c.wanted("BOB@X./r") and c.wanted("Bob@X")
    assert not c.wanted("carol@x/phone") and not c.wanted(None) and not c.wanted("")
    assert c.wanted("bøb@x/r")  # not ASCII: parsed, as before
    # the same verdict as parsing every one: what was skipped, feed would have ignored
    for sender in ("carol@x/r", "x/r", "bob@y/r", "zed@x"):
        c.feed(parse_presence(ET.fromstring(f"<presence xmlns='jabber:client' from='{sender}'/>")))
    assert c.answered == set()
