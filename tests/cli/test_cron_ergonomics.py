"""Scripting and cron ergonomics, against a FakeSession: exit codes in pipes, --quiet, global
options after the command, one output vocabulary, like cases sharing codes, empty-result notes."""

from __future__ import annotations

import csv
import io
import sys

import pytest

from tests.fakes import FakeSession
from tests.helpers import Result
from xmppctl.roster import RosterItem

ME = ["--jid", "me@example.org"]
ALICE = RosterItem("alice@example.org", "Alice", "both", False, ("Friends",))
BOB = RosterItem("bob@example.org", None, "to", True, ("Work", "Friends"))


@pytest.fixture
def run_fake(monkeypatch, capsys):
    from xmppctl.cli import main

    def run(fake: FakeSession, *args: str, stdin: str = "", prefix: list[str] | None = None) -> Result:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main((ME if prefix is None else prefix) + list(args), session_factory=fake.factory)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


class _GoneReader(io.StringIO):
    """Standard output whose reader has closed the pipe (`| head -1` after its line)."""

    def write(self, _text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no fd")


def test_a_reader_that_goes_away_early_is_exit_0_and_silent(monkeypatch, capsys):
    from xmppctl.cli import main

    monkeypatch.setattr(sys, "stdout", _GoneReader())
    code = main(ME + ["roster", "list", "-o", "csv"], session_factory=FakeSession.with_roster(ALICE, BOB).factory)
    monkeypatch.undo()
    assert code == 0
    assert capsys.readouterr().err == ""
