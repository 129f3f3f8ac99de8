"""Overlapping runs (cron jobs, a long --hold): config changes queue up, account changes are
serialised by the account lock, backups never overwrite one another."""

from __future__ import annotations

import fcntl
import io
import os
import subprocess
import sys
import tomllib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.support.fakes import FakeSession
from tests.support.helpers import Result
from xmppctl.locks import lock_dir, lock_file_name
from xmppctl.roster.items import RosterItem

ME = "me@example.org"
ALICE = RosterItem("alice@example.org", "Alice", "both", False, ("Friends",))


def _add_after(barrier, config: str, i: int) -> None:
    from pathlib import Path

    from xmppctl.config import add_account

    barrier.wait(30)
    add_account(Path(config), f"bot{i}", {"jid": f"bot{i}@example.org"})


def test_concurrent_account_adds_all_survive(tmp_path):
    """12 processes adding an account at the same moment: 12 accounts (without the config
    lock, 2 survived).  Forked from this one (real processes, real flock, no start-up cost)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    config = tmp_path / "config.toml"
    barrier = ctx.Barrier(12)
    procs = [ctx.Process(target=_add_after, args=(barrier, str(config), i)) for i in range(12)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 12
    accounts = tomllib.loads(config.read_text())["accounts"]
    assert sorted(accounts) == sorted(f"bot{i}" for i in range(12))
    assert not list(tmp_path.glob(".config.toml.*"))  # no temporary file left


class Holder:
    """Another process holding the account lock of *jid*, as a second xmppctl run would."""

    def __init__(self, jid: str):
        self.path = lock_dir() / lock_file_name(jid)
        code = ("import fcntl, os, sys\n"
                f"fd = os.open({str(self.path)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                "os.write(fd, f'{os.getpid()}\\nxmppctl roster import --prune team.toml\\n'.encode())\n"
                "print('held', flush=True)\n"
                "sys.stdin.readline()\n")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "held\n"

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            self.proc.wait(30)

    def close(self) -> None:
        self.release()
        self.proc.stdin.close()
        self.proc.stdout.close()


@pytest.fixture
def holder():
    made: list[Holder] = []

    def make(jid: str = ME) -> Holder:
        made.append(Holder(jid))
        return made[-1]

    yield make
    for h in made:
        h.close()


@pytest.fixture
def run_fake(monkeypatch, capsys):
    from xmppctl.cli import main

    def run(fake: FakeSession, *args: str) -> Result:
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        capsys.readouterr()
        code = main(["--jid", ME, *args], session_factory=fake.factory)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def test_a_changing_run_fails_at_once_naming_the_holder_and_sends_nothing(run_fake, holder):
    h = holder()
    fake = FakeSession.with_roster(ALICE)
    r = run_fake(fake, "roster", "add", "bob@example.org")
    assert r.code == 1, r.stderr
    assert f"PID {h.proc.pid} (xmppctl roster import --prune team.toml)" in r.stderr
    assert "--lock-wait" in r.stderr
    assert fake.sent == [] and not fake.opened
    r = run_fake(fake, "sub", "request", "-o", "json", "bob@example.org")
    assert r.code == 1 and r.error()["reason"] == "locked"
    assert fake.sent == []


def test_read_only_commands_and_dry_runs_never_take_the_lock(run_fake, holder):
    holder()
    fake = FakeSession.with_roster(ALICE)
    assert run_fake(fake, "roster", "list").code == 0
    assert run_fake(fake, "roster", "add", "--dry-run", "bob@example.org").code == 0
    assert fake.sent == []


def test_lock_wait_waits_for_the_holder(run_fake, holder, monkeypatch):
    """--lock-wait: the run goes on once the holder is done (released on our first failed try)."""
    import xmppctl.locks as locks

    h = holder()
    tries: list[int] = []

    class Flock:
        LOCK_EX, LOCK_NB = fcntl.LOCK_EX, fcntl.LOCK_NB

        @staticmethod
        def flock(fd: int, op: int) -> None:
            try:
                fcntl.flock(fd, op)
            except BlockingIOError:
                tries.append(1)
                h.release()
                raise

    monkeypatch.setattr(locks, "fcntl", Flock)
    fake = FakeSession.with_roster(ALICE)
    r = run_fake(fake, "--lock-wait", "60", "roster", "add", "bob@example.org")
    assert r.code == 0, r.stderr
    assert tries and fake.sent


def test_fleet_accounts_each_take_their_own_lock(run_fake, holder, tmp_path, monkeypatch):
    from xmppctl.config import add_account

    config = tmp_path / "fleet.toml"
    add_account(config, "a", {"jid": "a@example.org"})
    add_account(config, "b", {"jid": "b@example.org"})
    monkeypatch.setenv("XMPPCTL_PASSWORD_A", "x")
    monkeypatch.setenv("XMPPCTL_PASSWORD_B", "x")
    holder("b@example.org")
    fake = FakeSession.with_roster(ALICE)
    from xmppctl.cli import main

    code = main(["--config", str(config), "-a", "a", "-a", "b", "roster", "add", "bob@example.org"],
                session_factory=fake.factory)
    assert code == 7  # a changed, b locked
    assert len([s for s in fake.sent if "bob@example.org" in str(s)]) == 1


class RacingItems(list):
    """Items whose export, while it is being written, lets another run create the same backup name."""

    def __init__(self, items, race):
        super().__init__(items)
        self.race = race

    def __iter__(self):
        self.race()
        return super().__iter__()


def test_backup_never_replaces_a_file_another_run_created(tmp_path, monkeypatch):
    import xmppctl.roster.files.write as write
    from xmppctl.roster.files import backup_path, write_backup

    now = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return now

    monkeypatch.setattr(write, "datetime", Clock)
    first = backup_path(tmp_path, ME, "toml", now)

    def other_run() -> None:
        if not first.exists():
            first.write_text("the other run's backup\n")

    path = write_backup(RacingItems([ALICE], other_run), "toml", tmp_path, ME)
    assert first.read_text() == "the other run's backup\n"
    assert path != first and "alice@example.org" in path.read_text()
    assert (path.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, path.name])  # no temp file


def test_the_prune_backup_and_its_directory_are_on_disk_before_the_first_removal(run_fake, tmp_path, monkeypatch):
    events: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        events.append("fsync " + os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    fake = FakeSession.with_roster(ALICE, RosterItem("old@example.org"))
    remove = fake._roster_remove

    async def roster_remove(jid, what):
        events.append(f"remove {jid}")
        await remove(jid, what)

    fake._roster_remove = roster_remove
    wanted = tmp_path / "wanted.toml"
    wanted.write_text('[[contact]]\njid = "alice@example.org"\nname = "Alice"\ngroups = ["Friends"]\n')
    r = run_fake(fake, "roster", "import", str(wanted), "--prune", "--yes")
    assert r.code == 0, r.stderr
    [backup] = tmp_path.glob("roster-backup-*.toml")
    first_removal = events.index("remove old@example.org")
    synced = [e.removeprefix("fsync ") for e in events[:first_removal] if e.startswith("fsync ")]
    assert str(tmp_path) in synced, events  # the directory: the backup's name is durable
    assert any(p.startswith(str(tmp_path / ".roster-backup-")) for p in synced), events  # its data (as the temp file)
    assert "old@example.org" in backup.read_text()
