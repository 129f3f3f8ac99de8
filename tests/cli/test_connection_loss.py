"""A stream that goes away in the middle of a command, against the fake session (its ``drop``):
what was applied is reported as applied, the rest as not sent, and the exit code says which.
The same with a real server stopping is tests/integration/test_fault_import.py (slow)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.fakes import FakeSession

ME = ["--jid", "me@example.org"]
JIDS = [f"c{i}@example.org" for i in range(5)]


@pytest.fixture
def roster_file(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("jid,name,groups\n" + "".join(f"{jid},C{i},Team\n" for i, jid in enumerate(JIDS)))
    return str(path)


def test_import_whose_connection_is_lost_midway_reports_the_applied_and_the_unsent_items(cli, roster_file):
    fake = FakeSession(drop_after_writes=2)
    r = cli(ME + ["roster", "import", roster_file, "-o", "json"], session_factory=fake.factory)
    assert r.code == 7, r.stderr  # some items were applied: partial
    rows = {row["jid"]: row for row in r.json()}
    assert [jid for jid in JIDS if rows[jid]["ok"]] == JIDS[:2] == sorted(fake.roster)
    assert {jid: rows[jid]["error"] for jid in JIDS[2:]} == dict.fromkeys(JIDS[2:], "connection-lost")
    assert [rows[jid]["message"] for jid in JIDS[3:]] == ["not sent: connection lost"] * 2
    error = r.error()
    assert error["error"] == "partial" and [d["jid"] for d in error["details"]] == JIDS[2:]
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr


def test_import_whose_connection_is_lost_midway_says_so_in_the_table_summary(cli, roster_file):
    fake = FakeSession(drop_after_writes=2)
    r = cli(ME + ["roster", "import", roster_file], session_factory=fake.factory)
    assert r.code == 7
    assert "2 applied, 2 not sent" in r.stderr
    assert "c4@example.org (connection-lost)" in r.stderr


def test_import_that_loses_the_connection_before_its_first_set_exits_4(cli, roster_file):
    fake = FakeSession(drop_after_writes=0)
    r = cli(ME + ["roster", "import", roster_file, "-o", "json"], session_factory=fake.factory)
    assert fake.roster == {}
    assert r.code == 4, r.stderr


class LostAfterPresence(FakeSession):
    """A server that goes away just after our presence: while a command holds it, watches, or
    collects the pending requests it brings."""

    def send_presence(self, **kwargs) -> None:
        super().send_presence(**kwargs)
        asyncio.get_running_loop().call_soon(self.drop)


def test_presence_held_forever_ends_with_exit_4_when_the_stream_goes_away(cli):
    fake = LostAfterPresence()
    r = cli(ME + ["presence", "set", "--hold", "forever", "-o", "json"], session_factory=fake.factory)
    assert r.code == 4, r.stderr
    assert r.error()["message"] == "connection lost while holding presence"


def test_watch_ends_with_exit_4_when_the_stream_goes_away(cli):
    fake = LostAfterPresence()
    r = cli(ME + ["presence", "watch", "-o", "json"], session_factory=fake.factory)
    assert (r.code, r.error()["error"]) == (4, "connection"), r.stderr


@pytest.mark.parametrize("args", [
    pytest.param(("sub", "pending"), id="pending"),
    pytest.param(("sub", "approve", "--all"), id="approve-all"),
    pytest.param(("sub", "deny", "--all"), id="deny-all"),
])
def test_pending_requests_lost_with_the_stream_are_exit_4_not_none_pending(cli, args):
    fake = LostAfterPresence(pending_in=["alice@example.org"])
    fake.send_initial_presence = lambda priority, **kw: fake.send_presence(priority=priority, **kw)  # lost before redelivery
    r = cli(ME + [*args, "-o", "json"], session_factory=fake.factory)
    assert r.code == 4, (r.code, r.stdout, r.stderr)
