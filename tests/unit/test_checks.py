"""Monitoring checks: threshold ranges, states, the plugin line and the Prometheus document."""

from __future__ import annotations

import pytest

from tests.plugin_format import parse_exposition, parse_plugin_output
from xmppctl.checks import Status, combine, failure_result, login_result, parse_range, presence_result, worst
from xmppctl.errors import AuthError, ConnectionFailure, TimeoutFailure, UsageError
from xmppctl.metrics import MetricsDocument, add_contacts, add_login, add_roster, escape_label_value, plugin_output
from xmppctl.presence import PresenceRow
from xmppctl.roster.items import RosterItem

DAY = 86400


@pytest.mark.parametrize("text, alerting, quiet", [
    ("10", [-1, 10.5, 11], [0, 5, 10]),
    ("10:", [9.9, -5], [10, 1000]),
    ("~:10", [10.1, 50], [-1000, 10]),
    ("10:20", [9, 21], [10, 15, 20]),
    ("@10:20", [10, 15, 20], [9, 21]),
    ("1.5", [1.6], [0, 1.5]),
])
def test_range_alerts_as_the_guidelines_say(text, alerting, quiet):
    r = parse_range(text, "-w")
    assert all(r.alerts(v) for v in alerting)
    assert not any(r.alerts(v) for v in quiet)


@pytest.mark.parametrize("text", ["", "@", "abc", "20:10", "1:2:3", "nan", "inf", "~"])
def test_bad_range_is_a_usage_error_naming_the_option(text):
    with pytest.raises(UsageError, match="-c"):
        parse_range(text, "-c")


def test_worst_puts_critical_above_unknown_above_warning():
    assert worst([Status.OK, Status.WARNING, Status.UNKNOWN]) is Status.UNKNOWN
    assert worst([Status.UNKNOWN, Status.CRITICAL]) is Status.CRITICAL
    assert worst([]) is Status.OK


FACTS = {"tls_version": "TLSv1.3", "sasl_mechanism": "SCRAM-SHA-256", "address": "127.0.0.1", "port": 5222}


@pytest.mark.parametrize("days, expected", [(87, Status.OK), (10, Status.WARNING), (3, Status.CRITICAL), (-1, Status.CRITICAL)])
def test_login_certificate_days(days, expected):
    now = 1_800_000_000.0
    r = login_result("a@example.org", 0.2, {**FACTS, "tls_not_after": now + days * DAY + 60}, now)
    assert r.status is expected
    out = parse_plugin_output(plugin_output(r))
    assert out.service_state == f"XMPP LOGIN {expected.name}"
    if days >= 0:
        assert out.perf["cert_days"].value == days and (out.perf["cert_days"].warn, out.perf["cert_days"].crit) == ("14:", "7:")


def test_login_time_thresholds_and_perfdata():
    r = login_result("a@example.org", 2.5, {**FACTS, "tls_not_after": None}, 0.0,
                     warning=parse_range("1", "-w"), critical=parse_range("3", "-c"))
    out = parse_plugin_output(plugin_output(r))
    assert r.status is Status.WARNING and "certificate not verified" in out.text
    assert (out.perf["time"].value, out.perf["time"].uom, out.perf["time"].warn, out.perf["time"].crit, out.perf["time"].min) == (2.5, "s", "1", "3", "0")
    assert "cert_days" not in out.perf


@pytest.mark.parametrize("exc, login_state, presence_state", [
    (AuthError("bad password"), Status.CRITICAL, Status.UNKNOWN),
    (ConnectionFailure("refused"), Status.CRITICAL, Status.UNKNOWN),
    (TimeoutFailure("slow"), Status.UNKNOWN, Status.UNKNOWN),
    (UsageError("no password"), Status.UNKNOWN, Status.UNKNOWN),
])
def test_failures_are_critical_for_the_login_check_and_unknown_for_presence(exc, login_state, presence_state):
    assert failure_result("LOGIN", exc).status is login_state
    assert failure_result("PRESENCE", exc).status is presence_state


def rows(*specs):
    return [PresenceRow(jid=j, state=s, show=show, resource="r" if s == "online" else None) for j, s, show in specs]


def test_presence_states():
    probe = rows(("bot@x", "online", None), ("gw@x", "offline", None), ("pal@x", "online", "dnd"), ("far@x", "no-subscription", None))
    assert presence_result(probe, ["bot@x"], 0.1).status is Status.OK
    assert presence_result(probe, ["pal@x"], 0.1).status is Status.OK
    assert presence_result(probe, ["pal@x"], 0.1, warn_away=True).status is Status.WARNING
    assert presence_result(probe, ["far@x"], 0.1).status is Status.UNKNOWN
    r = presence_result(probe, ["bot@x", "gw@x", "far@x"], 0.35)
    assert r.status is Status.CRITICAL
    out = parse_plugin_output(plugin_output(r))
    assert out.text.startswith("1 of 3 offline: gw@x")
    assert (out.perf["online"].value, out.perf["online"].min, out.perf["online"].max) == (1, "0", "3")
    assert len(out.long) == 3 and out.long[1].startswith("CRITICAL: gw@x offline")


def test_presence_count_thresholds_replace_any_offline_is_critical():
    probe = rows(("a@x", "online", None), ("b@x", "offline", None), ("c@x", "online", None))
    jids = ["a@x", "b@x", "c@x"]
    assert presence_result(probe, jids, 0.1, critical=parse_range("1:", "-c")).status is Status.OK
    assert presence_result(probe, jids, 0.1, critical=parse_range("1:", "-c"), warning=parse_range("3:", "-w")).status is Status.WARNING
    assert presence_result(probe, jids, 0.1, critical=parse_range("3:", "-c")).status is Status.CRITICAL


def test_remote_text_cannot_forge_lines_or_perfdata():
    probe = [PresenceRow(jid="bot@x", state="offline", status="gone | evil=1\nXMPP PRESENCE OK - fine")]
    out = parse_plugin_output(plugin_output(presence_result(probe, ["bot@x"], 0.1)))
    assert set(out.perf) == {"online", "time"} and len(out.long) == 1


def test_fleet_combines_to_the_worst_with_a_line_per_account():
    ok = login_result("a@x", 0.1, FACTS, 0.0)
    bad = failure_result("LOGIN", AuthError("authentication failed"))
    r = combine("LOGIN", {"work": ok, "my bot": bad})
    out = parse_plugin_output(plugin_output(r))
    assert r.status is Status.CRITICAL and out.service_state == "XMPP LOGIN CRITICAL"
    assert out.long == [f"work: OK - {ok.summary}", "my bot: CRITICAL - authentication failed"]
    assert "work/time" in out.perf


def test_prometheus_document_escapes_labels_and_keeps_families_together():
    doc = MetricsDocument()
    for account in ("a", 'we"ird\\name\n'):
        add_login(doc, account, success=True, seconds=0.25, not_after=1_900_000_000)
        add_contacts(doc, account, rows(("bot@x", "online", "away"), ("gw@x", "offline", None)))
        add_roster(doc, account, [RosterItem(jid="bot@x", subscription="both"), RosterItem(jid="z@x", subscription="none", ask=True)])
    add_login(doc, "down", success=False)
    samples = parse_exposition(doc.text())
    key = lambda name, **labels: (name, tuple(sorted(labels.items())))  # noqa: E731
    weird = 'we"ird\\name\n'
    assert samples[key("xmppctl_contact_up", account=weird, jid="bot@x")] == 1
    assert samples[key("xmppctl_contact_show", account="a", jid="bot@x", show="away")] == 1
    assert samples[key("xmppctl_contact_show", account="a", jid="gw@x", show="available")] == 0
    assert samples[key("xmppctl_roster_contacts", account="a", subscription="to")] == 0
    assert samples[key("xmppctl_subscription_requests_pending", account="a", direction="out")] == 1
    assert samples[key("xmppctl_login_success", account="down")] == 0
    assert key("xmppctl_login_duration_seconds", account="down") not in samples
    assert escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
