"""roster migrate between two servers that talk to each other (server-to-server), OLD and its
contacts on old.test (Prosody), NEW on new.test (Prosody or ejabberd): every request, approval
and answer crosses s2s.

The scenario (tests/support/s2s_scenario.py) runs in a private mount and network namespace:
a DNS zone for both domains, the two servers with s2s and certificates from one test CA, the
contacts as plain clients answering what arrives from NEW.  It runs once per kind of NEW
server; this test checks its result.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.netns import run_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "support" / "s2s_scenario.py"


def _sent(run: dict) -> dict[str, tuple[str, str]]:
    """What a run sent, by contact: (roster set, presences) from its report rows."""
    return {row["jid"]: (row["copied"] if row["copied"] in ("add", "update") else "-", row["step"])
            for row in run["json"] if row["copied"] in ("add", "update") or row["step"] != "none"}


def _subs(roster: list[dict]) -> dict[str, tuple[str, bool]]:
    return {item["jid"]: (item["subscription"], item["ask"]) for item in roster}


@pytest.mark.parametrize("new_kind", ["prosody", "ejabberd"])
def test_migrate_across_servers_reestablishes_subscriptions(new_kind, tmp_path):
    res = run_scenario(SCENARIO, new_kind, str(tmp_path), servers=("prosody", new_kind), kind=new_kind)
    c, old_jid, new_jid = res["contacts"], res["old"], res["new"]
    bob, carol, dave, erin, frank, gina = (c[n] for n in ("bob", "carol", "dave", "erin", "frank", "gina"))
    first, second, third = res["runs"]

    # run 1 copies every item, asks who OLD saw, pre-approves who saw OLD where NEW's server can
    assert first["code"] == 0, first["stderr"]
    assert {row["jid"] for row in first["json"]} == {bob, carol, dave, erin, frank, gina}  # both own JIDs skipped
    preapproval = "does not advertise pre-approval" not in first["stderr"]
    pre = "preapprove+" if preapproval else ""
    assert _sent(first) == {bob: ("add", pre + "request"), carol: ("add", "preapprove" if preapproval else "none"),
                            dave: ("add", "request"), erin: ("add", "request"), gina: ("add", pre + "request")}

    # NEW's requests crossed to old.test, carrying XEP-0283's old-jid; carol was not asked
    answers = res["answers"]
    assert answers["bob"] == answers["dave"] == answers["gina"] == {"requested": True, "moved_from": [old_jid]}
    assert answers["carol"]["requested"] is False

    # run 2: the answers came back across s2s (gina's while run 1 ran); NEW approves the
    # requests of bob, carol and gina unless its server did (pre-approval); erin never
    # answered: exit 10 with --exit-code
    assert second["code"] == 10, second["stderr"]
    assert _sent(second) == ({} if preapproval else dict.fromkeys((bob, carol, gina), ("-", "approve")))
    rows = {row["jid"]: row for row in second["json"]}
    assert {j: rows[j]["status"] for j in (bob, carol, dave, erin, gina)} == {
        bob: "done", carol: "done", dave: "done", erin: "waiting", gina: "done"}
    assert rows[frank]["copied"] == "none" and "must ask NEW" in rows[frank]["note"]
    # run 3 sends nothing: every item copied, every request pending or answered
    assert third["code"] == 10 and _sent(third) == {}
    assert [row["status"] for row in third["json"]] == [row["status"] for row in second["json"]]

    # NEW ends with OLD's subscriptions, names and groups; erin's request is still pending
    old_before = res["old_before"]["json"]
    new_after = {item["jid"]: item for item in res["new_after"]["json"]}
    assert _subs(res["new_after"]["json"]) == {
        bob: ("both", False), carol: ("from", False), dave: ("to", False), erin: ("none", True), gina: ("both", False)}
    for item in old_before:
        if item["jid"] != new_jid:
            assert (new_after[item["jid"]]["name"], new_after[item["jid"]]["groups"]) == (item["name"], item["groups"])
    # old.test agrees: each contact's roster has the mirror of NEW's subscription
    assert {n: _subs([{"jid": j, **v} for j, v in roster.items()]).get(new_jid)
            for n, roster in res["contact_rosters"].items()} == {
        "bob": ("both", False), "carol": ("to", False), "dave": ("from", False), "erin": None, "gina": ("both", False)}

    # nothing on OLD changed; frank's request to OLD is kept there
    assert res["old_after"]["json"] == old_before
    assert [p["jid"] for p in res["old_pending"]["json"] if p["direction"] == "in"] == [frank]
