"""xmppctl.fleet.team_sync without the CLI: sync_team against fake sessions (what servers do: tests/integration/test_fleet.py)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.fakes import FakeSession
from xmppctl.errors import AuthError, XmppctlError
from xmppctl.roster.items import RosterItem
from xmppctl.fleet.team import Team, TeamMember
from xmppctl.fleet.team_sync import sync_team

TEAM = Team("Ops", (TeamMember("a"), TeamMember("b")))
JIDS = {"a": "a@x.org", "b": "b@x.org"}
TIMEOUTS = {"a": 5.0, "b": 5.0}


def converged_fakes() -> dict[str, FakeSession]:
    """a and b list each other in Ops, subscription both; a still has c (a former member) in Ops."""
    return {"a": FakeSession.with_roster(RosterItem("b@x.org", "b", "both", groups=("Ops",)),
                                         RosterItem("c@x.org", "C", "both", groups=("Ops",)), bare_jid="a@x.org"),
            "b": FakeSession.with_roster(RosterItem("a@x.org", "a", "both", groups=("Ops",)), bare_jid="b@x.org")}


def test_a_converged_team_sends_nothing_and_each_member_uses_its_own_session():
    fakes = converged_fakes()
    opened: list[str] = []

    def open_session(name: str):
        opened.append(name)
        return fakes[name].factory(None)

    run = asyncio.run(sync_team(TEAM, JIDS, open_session, timeouts=TIMEOUTS))
    assert sorted(opened) == ["a", "b"] and run.last is not None and run.last.converged
    assert fakes["a"].sent == fakes["b"].sent == []


def test_prune_asks_before_it_backs_up_and_a_no_changes_nothing(tmp_path):
    fakes, lines, questions = converged_fakes(), [], []

    async def decline(question: str) -> bool:
        questions.append(question)
        return False

    with pytest.raises(XmppctlError, match="aborted: nothing was changed"):
        asyncio.run(sync_team(TEAM, JIDS, lambda n: fakes[n].factory(None), timeouts=TIMEOUTS,
                              configured={"c": "c@x.org"}, confirm=decline, backup_dir=tmp_path, note=lines.append))
    assert questions == ["--prune removes 1 contact(s) (a: c@x.org)?"]
    assert list(tmp_path.glob("roster-backup-*")) == [] and lines == []  # nothing confirmed: nothing to protect
    assert fakes["a"].roster_writes() == []


def test_prune_backs_up_after_the_confirmation_and_before_the_first_removal(tmp_path):
    fakes, lines, seen_at_removal = converged_fakes(), [], []
    remove_on_a = fakes["a"]._roster_remove

    async def roster_remove(jid, what):
        seen_at_removal.append(sorted(p.name for p in tmp_path.glob("roster-backup-a@x.org-*.toml")))
        await remove_on_a(jid, what)

    fakes["a"]._roster_remove = roster_remove

    async def accept(question: str) -> bool:
        assert list(tmp_path.glob("roster-backup-*")) == [], "no backup before the answer"
        return True

    asyncio.run(sync_team(TEAM, JIDS, lambda n: fakes[n].factory(None), timeouts=TIMEOUTS,
                          configured={"c": "c@x.org"}, confirm=accept, backup_dir=tmp_path, note=lines.append))
    [backup] = tmp_path.glob("roster-backup-a@x.org-*.toml")
    assert "c@x.org" in backup.read_text() and lines == [f"a: backup of the current roster written to {backup}"]
    assert seen_at_removal == [[backup.name]] and "c@x.org" not in fakes["a"].roster


def test_a_member_that_cannot_log_in_fails_alone():
    fakes = {"a": FakeSession(bare_jid="a@x.org")}

    def open_session(name: str):
        if name == "b":
            raise AuthError("not-authorized")
        return fakes[name].factory(None)

    run = asyncio.run(sync_team(TEAM, JIDS, open_session, timeouts=TIMEOUTS))
    assert isinstance(run.members["b"].error, AuthError) and run.members["a"].error is None
    assert run.members["a"].roster_sets == 1 and run.members["a"].presences == 0, "no handshake with a member not seen"
    assert fakes["a"].roster["b@x.org"].groups == ("Ops",)


def test_every_member_needs_a_timeout_before_anything_is_opened():
    with pytest.raises(ValueError, match="no timeout for b"):
        asyncio.run(sync_team(TEAM, JIDS, lambda n: pytest.fail("opened a session"), timeouts={"a": 1.0}))


def test_a_removal_first_planned_in_a_later_round_is_asked_for_and_nothing_removed_when_declined(tmp_path):
    """Another client puts former member c back into a's team group while the run applies round 1."""
    fakes = {"a": FakeSession.with_roster(RosterItem("b@x.org", "b", "both", groups=("Ops",)), bare_jid="a@x.org"),
             "b": FakeSession(bare_jid="b@x.org")}
    set_on_b = fakes["b"]._roster_set

    async def roster_set(item, what):
        await set_on_b(item, what)
        fakes["a"].roster["c@x.org"] = RosterItem("c@x.org", "C", "both", groups=("Ops",))

    fakes["b"]._roster_set = roster_set
    questions, lines = [], []

    async def decline(question: str) -> bool:
        questions.append(question)
        return False

    with pytest.raises(XmppctlError, match="aborted"):
        asyncio.run(sync_team(TEAM, JIDS, lambda n: fakes[n].factory(None), timeouts={"a": 0.2, "b": 0.2},
                              configured={"c": "c@x.org"}, confirm=decline, backup_dir=tmp_path, note=lines.append))
    assert questions == ["--prune removes 1 contact(s) (a: c@x.org)?"]
    assert list(tmp_path.glob("roster-backup-*")) == [] and lines == []
    assert "c@x.org" in fakes["a"].roster
