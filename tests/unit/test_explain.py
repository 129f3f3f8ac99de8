"""presence explain: the pure verdict over every kind of fact, and the report's shapes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from xmppctl.explain import (
    MUST_ACT,
    ExplainFacts,
    ProbeFacts,
    ResourceFacts,
    SideFacts,
    flat_report,
    probe_facts,
    report,
    table_report,
    verdict,
)

ME, BOB = "alice@example.org", "bob@example.org"


def own(**kw) -> SideFacts:
    return SideFacts(account=ME, contact=BOB, **{"blocking": True, **kw})


def peer(**kw) -> SideFacts:
    return SideFacts(account=BOB, contact=ME, **{"blocking": True, **kw})


def facts(own_side: SideFacts, probe: ProbeFacts | None = None, peer_side: SideFacts | None = None) -> ExplainFacts:
    return ExplainFacts(own=own_side, probe=probe, peer=peer_side, peer_account="bobacct" if peer_side else None)


SUBSCRIBED = own(in_roster=True, subscription="to")
OFFLINE = ProbeFacts("offline")


def test_blocked_by_you_wins_over_everything():
    code, text = verdict(facts(own(in_roster=True, subscription="both", blocked_by=(BOB,)), None,
                               peer(blocked_by=(ME,))))
    assert code == "blocked"
    assert text == f"no presence: {BOB} is blocked by you; run `xmppctl block remove {BOB}`"


def test_blocked_through_a_domain_entry_names_the_entry_to_remove():
    code, text = verdict(facts(own(blocked_by=("example.org",))))
    assert code == "blocked"
    assert f"{BOB} (block list entry example.org) is blocked by you" in text
    assert text.endswith("run `xmppctl block remove example.org`")


def test_blocked_by_the_contact_names_the_contact_and_its_command():
    code, text = verdict(facts(SUBSCRIBED, ProbeFacts("timeout", timeout=3), peer(blocked_by=(ME,))))
    assert code == "blocked-by-contact"
    assert text == (f"no presence: {BOB} blocks you ({ME}); {BOB} must unblock you: "
                    f"`xmppctl -a bobacct block remove {ME}`")
    assert MUST_ACT[code] == "contact"


def test_not_in_roster_tells_you_to_request():
    assert verdict(facts(own(), ProbeFacts("not-in-roster"))) == (
        "not-in-roster", f"no presence: {BOB} is not in your roster; run `xmppctl sub request {BOB}`")


def test_not_subscribed_says_the_subscription_state():
    code, text = verdict(facts(own(in_roster=True, subscription="from"), ProbeFacts("no-subscription")))
    assert code == "not-subscribed"
    assert text == (f"no presence: you are not subscribed to {BOB} (subscription=from); "
                    f"run `xmppctl sub request {BOB}`")
    assert MUST_ACT[code] == "you"


def test_a_pending_inbound_request_suggests_approving_both_ways():
    _, text = verdict(facts(own(in_roster=True, pending_in=True)))
    assert text.endswith(f"({BOB} asked to see yours too: `xmppctl sub approve --and-request {BOB}` does both)")
    _, text = verdict(facts(own(pending_in=True)))
    assert "is not in your roster" in text and "--and-request" in text


def test_our_pending_request_without_the_other_side_says_who_must_approve():
    assert verdict(facts(own(in_roster=True, ask=True))) == (
        "request-pending", f"no presence: your subscription request is pending: {BOB} must approve it")


def test_our_pending_request_seen_by_the_contact_gives_its_approve_command():
    code, text = verdict(facts(own(in_roster=True, ask=True), None, peer(pending_in=True)))
    assert code == "request-pending"
    assert text.endswith(f"{BOB} must approve it: `xmppctl -a bobacct sub approve {ME}`")
    assert MUST_ACT[code] == "contact"


def test_our_pending_request_unknown_to_the_contact_is_lost():
    code, text = verdict(facts(own(in_roster=True, ask=True), None, peer(in_roster=True)))
    assert code == "request-lost"
    assert text == (f"no presence: your subscription request is pending but {BOB} has no record of it; "
                    f"send it again: run `xmppctl sub request {BOB}`")
    assert MUST_ACT[code] == "you"


def test_online_counts_and_names_the_resources():
    probe = ProbeFacts("online", (ResourceFacts("laptop", "available"), ResourceFacts("phone", "away")))
    assert verdict(facts(SUBSCRIBED, probe)) == ("online", "online: 2 resources (laptop: available, phone: away)")
    assert verdict(facts(SUBSCRIBED, ProbeFacts("online", (ResourceFacts(None),)))) == (
        "online", "online: 1 resource ((no resource): available)")
    assert MUST_ACT["online"] is None


def test_online_is_what_the_probe_saw_even_when_the_peer_roster_disagrees():
    probe = ProbeFacts("online", (ResourceFacts("laptop"),))
    assert verdict(facts(SUBSCRIBED, probe, peer(subscription="none")))[0] == "online"


@pytest.mark.parametrize("seconds, ago", [(59, "59 s"), (600, "10 min"), (7200, "2 h"), (3 * 86400 + 5, "3 d")])
def test_offline_with_last_activity_says_when(seconds, ago):
    probe = ProbeFacts("offline", last_seen="2026-11-25T10:00:00Z", idle=seconds)
    assert verdict(facts(SUBSCRIBED, probe)) == ("offline", f"offline; last seen 2026-11-25T10:00:00Z ({ago} ago)")


def test_offline_with_a_last_activity_of_zero_seconds_is_not_taken_as_now():
    probe = ProbeFacts("offline", last_seen="2026-11-25T10:00:00Z", idle=0)
    assert verdict(facts(SUBSCRIBED, probe)) == (
        "offline", "offline; last seen unknown (the server reports 0 s: just now, or never online)")


def test_offline_quotes_the_last_status():
    probe = ProbeFacts("offline", status="Registered but didn't login", last_seen="2026-11-25T10:00:00Z", idle=2)
    assert verdict(facts(SUBSCRIBED, probe)) == (
        "offline", "offline (\"Registered but didn't login\"); last seen 2026-11-25T10:00:00Z (2 s ago)")


def test_offline_without_last_activity_says_unknown():
    assert verdict(facts(SUBSCRIBED, OFFLINE)) == (
        "offline", "offline; last seen unknown (the server gave no last activity)")


def test_subscribed_but_not_approved_on_the_other_side_is_out_of_sync():
    code, text = verdict(facts(own(in_roster=True, subscription="both"), OFFLINE, peer(in_roster=True, subscription="to")))
    assert code == "out-of-sync"
    assert text == (f"no presence: your roster says subscription=both but {BOB}'s says subscription=to "
                    f"(not approved); ask again: run `xmppctl sub request {BOB}`")


def test_subscribed_and_approved_on_the_other_side_reads_the_probe():
    assert verdict(facts(SUBSCRIBED, OFFLINE, peer(in_roster=True, subscription="from")))[0] == "offline"


def test_a_probe_answered_with_unsubscribed_is_refused():
    code, text = verdict(facts(SUBSCRIBED, ProbeFacts("no-subscription")))
    assert code == "refused"
    assert "answered the probe with unsubscribed" in text and f"`xmppctl sub request {BOB}`" in text


def test_a_probe_error_names_the_condition():
    assert verdict(facts(SUBSCRIBED, ProbeFacts("error", error="remote-server-not-found"))) == (
        "probe-error", f"no presence: the probe of {BOB} returned an error (remote-server-not-found)")
    assert verdict(facts(SUBSCRIBED, ProbeFacts("error")))[1].endswith("(unknown)")


def test_no_answer_within_the_deadline_names_the_possible_causes():
    assert verdict(facts(SUBSCRIBED, ProbeFacts("timeout", timeout=2.5))) == (
        "no-answer", f"no answer from {BOB} within 2.5 s: its server may be unreachable, or {BOB} blocks you")


def test_subscribed_but_not_probed_is_no_answer():
    assert verdict(facts(SUBSCRIBED, None)) == ("no-answer", f"no presence: {BOB} was not probed")


def test_every_code_the_verdict_gives_has_an_actor_entry():
    # the codes above, collected: a new branch must be added to MUST_ACT (and the help text)
    assert set(MUST_ACT) == {"blocked", "blocked-by-contact", "not-in-roster", "not-subscribed", "request-pending",
                             "request-lost", "out-of-sync", "refused", "online", "offline", "probe-error", "no-answer"}


def test_probe_facts_from_probe_rows():
    row = SimpleNamespace
    online = [row(state="online", resource="a", show="dnd", status="busy", priority=5, since="S", last_seen=None,
                  idle=None, error=None),
              row(state="online", resource="b", show=None, status=None, priority=0, since=None, last_seen=None,
                  idle=None, error=None)]
    got = probe_facts(online, 4.0)
    assert got.state == "online" and got.timeout == 4.0
    assert got.resources == (ResourceFacts("a", "dnd", "busy", 5, "S"), ResourceFacts("b", "available", None, 0, None))
    offline = [row(state="offline", resource=None, show=None, status="bye", priority=None, since=None,
                   last_seen="L", idle=9, error=None)]
    assert probe_facts(offline, 1.0) == ProbeFacts("offline", status="bye", last_seen="L", idle=9, timeout=1.0)


def test_report_has_the_documented_keys_and_the_peer_side():
    data = report(facts(own(in_roster=True, ask=True), ProbeFacts("no-subscription"), peer(pending_in=True)))
    assert list(data) == ["jid", "account", "in_roster", "subscription", "ask", "approved", "pending_in", "blocked",
                          "blocked_by", "blocking_supported", "state", "resources", "status", "last_seen", "idle",
                          "error", "peer", "code", "must_act", "verdict"]
    assert (data["jid"], data["account"], data["blocked"], data["code"], data["must_act"]) == (
        BOB, ME, False, "request-pending", "contact")
    assert data["peer"] == {"name": "bobacct", "account": BOB, "in_roster": False, "subscription": "none", "ask": False,
                            "approved": False, "pending_in": True, "blocked": False, "blocked_by": []}


def test_report_without_blocking_support_has_blocked_null():
    data = report(facts(own(blocking=False), ProbeFacts("not-in-roster")))
    assert data["blocked"] is None and data["blocking_supported"] is False and data["peer"] is None


def test_flat_and_table_reports_flatten_resources_and_peer_and_spell_out_booleans():
    probe = ProbeFacts("online", (ResourceFacts("phone", "away", "out\nside", 5),))
    data = report(facts(SUBSCRIBED, probe, peer(in_roster=True, subscription="from")))
    flat = flat_report(data)
    assert flat["resources"] == ['phone: away (priority 5) "out\nside"']  # verbatim: tables escape it
    assert flat["peer_subscription"] == "from" and "peer" not in flat
    table = table_report(data)
    assert (table["in_roster"], table["ask"], table["blocked"]) == ("yes", "no", "no")
    assert table["verdict"] == data["verdict"] and list(table)[-1] == "verdict"
    unknown = table_report(report(facts(own(blocking=False))))
    assert unknown["blocked"].startswith("unknown") and unknown["state"] == "not probed"
