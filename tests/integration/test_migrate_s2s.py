"""roster migrate between two servers that talk to each other (server-to-server), OLD and its
contacts on old.test, NEW on new.test: every request, approval and answer crosses s2s.

The scenario (tests/support/s2s_scenario.py) runs in a private mount and network namespace:
a DNS zone for both domains, two Prosody servers with s2s and certificates from one test CA,
the contacts as plain clients answering what arrives from NEW.  It runs once; this test checks
its result.  Prosody <-> Prosody only (the test servers of the rest of the suite have s2s off).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.support.netns import why_no_namespace

import pytest

SCENARIO = Path(__file__).resolve().parents[1] / "support" / "s2s_scenario.py"


def _plan_counts(run: dict) -> dict[str, int]:
    """The counts of the plan line migrate prints on stderr (what this run sends)."""
    m = re.search(r"(\d+) roster item\(s\) to copy, (\d+) pre-approval\(s\), (\d+) approval\(s\), "
                  r"(\d+) subscription request\(s\)", run["stderr"])
    assert m, run["stderr"]
    return dict(zip(("copy", "preapprove", "approve", "request"), map(int, m.groups())))


def _subs(roster: list[dict]) -> dict[str, tuple[str, bool]]:
    return {item["jid"]: (item["subscription"], item["ask"]) for item in roster}


def test_migrate_across_servers_reestablishes_subscriptions(tmp_path):
    why = why_no_namespace("prosody", kind="prosody")
    if why:
        pytest.skip(why)
    r = subprocess.run(["unshare", "-m", "-n", sys.executable, str(SCENARIO), str(tmp_path)],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    c, old_jid, new_jid = res["contacts"], res["old"], res["new"]
    bob, carol, dave, erin, frank = (c[n] for n in ("bob", "carol", "dave", "erin", "frank"))
    first, second, third = res["runs"]

    assert first["code"] == 0, first["stderr"]
    rows = {row["jid"]: row for row in first["json"]}
    assert set(rows) == {bob, carol, dave, erin, frank}  # both own JIDs skipped
    # Prosody advertises pre-approval: NEW pre-approves who saw OLD, and asks who OLD saw
    assert {j: rows[j]["step"] for j in (bob, carol, dave, erin)} == {
        bob: "preapprove+request", carol: "preapprove", dave: "request", erin: "request"}
    assert _plan_counts(first) == {"copy": 4, "preapprove": 2, "approve": 0, "request": 3}

    # NEW's requests crossed to old.test, carrying XEP-0283's old-jid; carol was not asked
    answers = res["answers"]
    assert answers["bob"] == answers["dave"] == {"requested": True, "moved_from": [old_jid]}
    assert answers["carol"]["requested"] is False

    # run 2: the answers have come back across s2s; erin never answered: exit 10
    assert second["code"] == 10, second["stderr"]
    rows = {row["jid"]: row for row in second["json"]}
    assert {j: (rows[j]["status"], rows[j]["step"]) for j in (bob, carol, dave, erin)} == {
        bob: ("done", "none"), carol: ("done", "none"), dave: ("done", "none"), erin: ("waiting", "none")}
    assert rows[frank]["copied"] == "none" and "must ask NEW" in rows[frank]["note"]
    # run 2 and run 3 send nothing (every item copied, every request pending or answered)
    assert _plan_counts(second) == _plan_counts(third) == {"copy": 0, "preapprove": 0, "approve": 0, "request": 0}
    assert third["code"] == 10 and third["json"] == second["json"]

    # NEW ends with OLD's subscriptions, names and groups; erin's request is still pending
    old_before = res["old_before"]["json"]
    new_after = {item["jid"]: item for item in res["new_after"]["json"]}
    assert _subs(res["new_after"]["json"]) == {
        bob: ("both", False), carol: ("from", False), dave: ("to", False), erin: ("none", True)}
    for item in old_before:
        if item["jid"] != new_jid:
            assert (new_after[item["jid"]]["name"], new_after[item["jid"]]["groups"]) == (item["name"], item["groups"])
    # old.test agrees: each contact's roster has the mirror of NEW's subscription
    assert {n: _subs([{"jid": j, **v} for j, v in roster.items()]).get(new_jid)
            for n, roster in res["contact_rosters"].items()} == {
        "bob": ("both", False), "carol": ("to", False), "dave": ("from", False), "erin": None}

    # nothing on OLD changed; frank's request to OLD is kept there
    assert res["old_after"]["json"] == old_before
    assert [p["jid"] for p in res["old_pending"]["json"] if p["direction"] == "in"] == [frank]
