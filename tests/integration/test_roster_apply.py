"""The roster apply engine against a real Prosody: pipelined sets, per-item results."""

from __future__ import annotations

import asyncio

import pytest

from xmppctl.config import Account
from tests.support import Contact
from xmppctl.roster.items import Change, RosterItem, apply_changes, fetch_roster, plan_roster
from xmppctl.xmpp.session import open_session


def NO_STRAYS_EXPECTED(xml) -> bool:  # noqa: N802 - no message reaches these sessions; none is kept
    return False



def account_for(user) -> Account:
    return Account(jid=user.jid, server="127.0.0.1", port=user.server.port, ca_file=str(user.server.ca_file), timeout=10)


def run_plan(user, desired, **kw):
    async def go():
        async with open_session(account_for(user), user.password, keeper=NO_STRAYS_EXPECTED) as s:
            plan = plan_roster(await fetch_roster(s), desired, **kw)
            results = []
            await apply_changes(s, plan.changes, results, window=8)
            return plan, results, await fetch_roster(s)

    return asyncio.run(go())


def test_apply_adds_updates_and_prunes(make_user):
    user = make_user()
    user.seed([Contact("keep@x.org", "Keep", ("G",), "both"), Contact("old@x.org", "Old", (), "none")])
    desired = [RosterItem("keep@x.org", "Kept", groups=("G", "H")),
               *[RosterItem(f"n{i}@x.org", f"N{i}", groups=("New",)) for i in range(40)]]
    plan, results, after = run_plan(user, desired, prune=True)
    assert all(r.ok for r in results) and len(results) == 42
    by_jid = {i.jid: i for i in after}
    assert "old@x.org" not in by_jid
    assert by_jid["keep@x.org"].name == "Kept" and by_jid["keep@x.org"].groups == ("G", "H")
    assert by_jid["keep@x.org"].subscription == "both"  # an update keeps the subscription
    assert len(by_jid) == 41 and by_jid["n7@x.org"].groups == ("New",)
    # second run: nothing to send
    plan2, results2, _ = run_plan(user, desired, prune=True)
    assert plan2.changes == [] and results2 == []


@pytest.mark.server_only("prosody", reason="ejabberd 23 answers success when removing an unknown item; "
                        "RFC 6121 §2.5.3 (and Prosody) say item-not-found")
def test_failed_sets_are_reported_per_item_and_the_rest_applies(make_user):
    user = make_user()

    async def go():
        async with open_session(account_for(user), user.password, keeper=NO_STRAYS_EXPECTED) as s:
            changes = [Change("remove", "ghost@x.org", None, None),
                       Change("add", "fine@x.org", None, RosterItem("fine@x.org", "Fine"))]
            results = []
            await apply_changes(s, changes, results)
            return results, await fetch_roster(s)

    results, after = asyncio.run(go())
    by_jid = {r.change.jid: r for r in results}
    assert by_jid["ghost@x.org"].ok is False and by_jid["ghost@x.org"].error == "item-not-found"
    assert by_jid["fine@x.org"].ok is True
    assert [i.jid for i in after] == ["fine@x.org"]
