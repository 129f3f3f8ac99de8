"""Pure blocking logic (XEP-0191): JID validation, block list parsing, plans, exit codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from xmppctl.blocking import (
    BLOCKING_NS,
    BlockResult,
    block_jids,
    check_blockable,
    covering_entries,
    dry_run_rows,
    parse_blocklist,
    plan_changes,
    raise_for_results,
)
from xmppctl.errors import PartialFailure, ServerRefused, UsageError


def test_block_jids_accepts_bare_full_and_domain_jids_normalised_without_duplicates():
    assert block_jids(["Bob@Example.ORG", "spam.example", "SPAM.example.", "x@y.example/Res", "bob@example.org"]) == [
        "bob@example.org", "spam.example", "x@y.example/Res"]


@pytest.mark.parametrize("bad", ["", "@example.org", "a@", "a b@example.org", "bob@example.org/", "a@exa mple.org"])
def test_block_jids_refuses_invalid_jids_with_usage_error(bad):
    with pytest.raises(UsageError, match="invalid JID"):
        block_jids(["ok@example.org", bad])


@pytest.mark.parametrize("jid, why", [("me@example.org", "your own JID"), ("me@example.org/phone", "your own JID"),
                                      ("example.org", "your own server")])
def test_blocking_yourself_or_your_server_is_refused(jid, why):
    with pytest.raises(UsageError, match=why):
        check_blockable("me@example.org", [jid])


def test_blocking_other_accounts_of_your_server_is_fine():
    check_blockable("me@example.org", ["you@example.org", "example.net", "conference.example.org"])


def test_parse_blocklist_normalises_sorts_and_drops_empty_and_duplicate_items():
    result = ET.fromstring(
        f"<iq xmlns='jabber:client' type='result'><blocklist xmlns='{BLOCKING_NS}'>"
        "<item jid='Zed@Example.org'/><item jid='spam.example'/><item jid='zed@example.org'/><item/>"
        "<item jid='not a jid'/></blocklist></iq>")
    assert parse_blocklist(result) == ["not a jid", "spam.example", "zed@example.org"]


def test_parse_blocklist_of_an_empty_or_missing_payload_is_empty():
    assert parse_blocklist(None) == []
    assert parse_blocklist(ET.fromstring("<iq xmlns='jabber:client' type='result'/>")) == []


def test_covering_entries_are_the_bare_jid_and_its_domain_not_single_addresses():
    entries = ["bob@example.org", "bob@example.org/phone", "example.org", "example.org/gw", "bobby@example.org",
               "bob@example.net", "other.example"]
    assert covering_entries("bob@example.org", entries) == ["bob@example.org", "example.org"]
    assert covering_entries("bob@example.org", ["bob@example.org/phone", "example.org/gw"]) == []
    assert covering_entries("alice@other.example", entries) == ["other.example"]
    assert covering_entries("carol@example.com", entries) == []


def test_plan_skips_jids_already_in_the_requested_state():
    send, skipped = plan_changes("block", ["a@x.org", "b@x.org"], ["b@x.org"])
    assert send == ["a@x.org"]
    assert [(r.action, r.jid, r.ok) for r in skipped] == [("skip", "b@x.org", True)]
    send, skipped = plan_changes("unblock", ["a@x.org", "b@x.org"], ["b@x.org"])
    assert send == ["b@x.org"]
    assert [(r.jid, r.message) for r in skipped] == [("a@x.org", "not blocked; nothing sent")]


def test_dry_run_rows_have_no_outcome_and_are_sorted():
    rows = dry_run_rows("block", ["z@x.org", "a@x.org"], [BlockResult("skip", "m@x.org", True, message="already")])
    assert [(r.action, r.jid, r.ok) for r in rows] == [("block", "a@x.org", None), ("skip", "m@x.org", True),
                                                       ("block", "z@x.org", None)]


def test_results_all_ok_or_skipped_raise_nothing():
    raise_for_results([BlockResult("block", "a@x.org", True), BlockResult("skip", "b@x.org", True)])
    raise_for_results([])


def test_every_sent_jid_failing_is_refused_exit_6():
    results = [BlockResult("block", "a@x.org", False, "not-acceptable", "no"), BlockResult("skip", "b@x.org", True)]
    with pytest.raises(ServerRefused) as exc:
        raise_for_results(results)
    assert exc.value.condition == "not-acceptable" and exc.value.exit_code == 6
    assert exc.value.details == [results[0].to_dict()]


def test_some_jids_failing_is_partial_exit_7():
    with pytest.raises(PartialFailure, match="1 of 2 failed: a@x.org \\(timeout\\)") as exc:
        raise_for_results([BlockResult("block", "a@x.org", False, "timeout"), BlockResult("block", "b@x.org", True)])
    assert exc.value.exit_code == 7
