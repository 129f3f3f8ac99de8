"""Scripting and cron ergonomics, against a FakeSession: exit codes in pipes, --quiet, global
options after the command, one output vocabulary, like cases sharing codes, empty-result notes."""

from __future__ import annotations

import csv
import io
import sys

import pytest

from tests.support.fakes import FakeSession
from tests.support.helpers import Result
from xmppctl.roster.items import RosterItem

ME = ["--jid", "me@example.org"]
ALICE = RosterItem("alice@example.org", "Alice", "both", False, ("Friends",))
BOB = RosterItem("bob@example.org", None, "to", True, ("Work", "Friends"))


@pytest.fixture
def run_fake(cli):
    def run(fake: FakeSession, *args: str, stdin: str = "", prefix: list[str] | None = None) -> Result:
        return cli((ME if prefix is None else prefix) + list(args), session_factory=fake.factory, stdin=stdin)

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


def _roster_file(tmp_path, *items: RosterItem):
    from xmppctl.roster.files import write_roster_path

    return str(write_roster_path(list(items), "toml", tmp_path / "roster.toml"))


def test_quiet_import_that_changes_nothing_prints_nothing(run_fake, tmp_path):
    fake = FakeSession.with_roster(ALICE)
    path = _roster_file(tmp_path, ALICE)
    r = run_fake(fake, "roster", "import", path, "--prune", "--yes", "-o", "table", prefix=["-q"] + ME)
    assert (r.code, r.stdout, r.stderr) == (0, "", "")
    r = run_fake(fake, "roster", "export", "--file", str(tmp_path / "out.toml"), prefix=["--quiet"] + ME)
    assert (r.code, r.stderr) == (0, "")


def test_quiet_keeps_errors(run_fake):
    r = run_fake(FakeSession.with_roster(ALICE), "roster", "remove", "ghost@example.org", prefix=["-q"] + ME)
    assert r.code == 6 and "ghost@example.org" in r.stderr


def test_prune_backs_up_only_when_something_is_removed_and_into_backup_dir(run_fake, tmp_path):
    path = _roster_file(tmp_path, ALICE)
    fake = FakeSession.with_roster(ALICE)
    for _ in range(2):  # no-op runs: no backup files pile up
        assert run_fake(fake, "roster", "import", path, "--prune", "--yes").code == 0
    assert list(tmp_path.glob("roster-backup-*")) == []
    keep = tmp_path / "backups"
    keep.mkdir()
    fake = FakeSession.with_roster(ALICE, BOB)
    r = run_fake(fake, "roster", "import", path, "--prune", "--yes", "--backup-dir", str(keep))
    assert r.code == 0
    [backup] = keep.glob("roster-backup-me@example.org-*.toml")
    assert "bob@example.org" in backup.read_text() and str(backup) in r.stderr
    assert list(tmp_path.glob("roster-backup-*")) == []


def test_backup_dir_that_is_not_a_directory_is_exit_2_before_login(run_fake, tmp_path):
    fake = FakeSession.with_roster(ALICE, BOB)
    r = run_fake(fake, "roster", "import", _roster_file(tmp_path, ALICE), "--prune", "--yes",
                 "--backup-dir", str(tmp_path / "nope"))
    assert r.code == 2 and "--backup-dir" in r.stderr and fake.opened == []


def test_global_options_after_the_command_work(run_fake):
    fake = FakeSession.with_roster(ALICE)
    r = run_fake(fake, "roster", "list", "--jid", "me@example.org", "-o", "json", prefix=[])
    assert r.code == 0 and [row["jid"] for row in r.json()] == ["alice@example.org"]
    r = run_fake(fake, "roster", "import", "/nonexistent.toml", "-q", prefix=ME)
    assert r.code == 2 and r.stderr.count("\n") == 1  # the option was accepted; the error is the file's


@pytest.mark.parametrize(("argv", "expected"), [
    (["roster", "list", "-a", "bob"], ["-a", "bob", "roster", "list"]),
    # every occurrence, in order, with attached values; command options and their values stay
    (["-a", "x", "roster", "add", "j@d", "--name", "-a", "-abob", "--account=c", "-a", "d", "--debug"],
     ["-a", "x", "-abob", "--account=c", "-a", "d", "--debug", "roster", "add", "j@d", "--name", "-a"]),
    # nothing after --
    (["roster", "remove", "--", "-q", "--jid"], ["roster", "remove", "--", "-q", "--jid"]),
    # a command's own option of the same name stays the command's
    (["account", "add", "w", "--jid", "a@b", "--timeout", "3", "-q"],
     ["-q", "account", "add", "w", "--jid", "a@b", "--timeout", "3"]),
    (["presence", "probe", "a@b", "--timeout", "3"], ["--timeout", "3", "presence", "probe", "a@b"]),
    # a missing value stays where it is (moved, it would take the command's name as its value)
    (["roster", "list", "--jid"], ["roster", "list", "--jid"]),
])
def test_hoist_global_options(argv, expected):
    from xmppctl.cli import hoist_global_options

    assert hoist_global_options(argv) == expected


def test_export_takes_o_for_the_format_and_file_for_the_file(run_fake, tmp_path):
    fake = FakeSession.with_roster(ALICE)
    r = run_fake(fake, "roster", "export", "-o", "json")
    assert r.code == 0 and r.json()[0]["jid"] == "alice@example.org"
    target = tmp_path / "out.txt"
    assert run_fake(fake, "roster", "export", "-o", "csv", "--file", str(target)).code == 0
    assert target.read_text().startswith("jid,")
    old = tmp_path / "old.json"  # the old spellings still work (hidden)
    assert run_fake(fake, "roster", "export", "-f", "json", "-O", str(old)).code == 0
    assert old.read_text().startswith("[")


def test_export_csv_has_the_columns_of_roster_list_csv_in_the_same_order(run_fake):
    fake = FakeSession.with_roster(ALICE, BOB)
    listed = list(csv.reader(io.StringIO(run_fake(fake, "roster", "list", "-o", "csv").stdout)))
    exported = list(csv.reader(io.StringIO(run_fake(fake, "roster", "export", "-o", "csv").stdout)))
    assert exported == listed


@pytest.mark.parametrize(("jids", "code"), [(["alice@example.org", "ghost@example.org"], 7), (["ghost@example.org"], 6),
                                            (["alice@example.org"], 0)])
def test_dry_run_exits_with_the_code_of_the_real_run(run_fake, jids, code):
    fake = FakeSession.with_roster(ALICE)
    dry = run_fake(fake, "roster", "remove", *jids, "--dry-run")
    assert fake.roster_writes() == []
    real = run_fake(FakeSession.with_roster(ALICE), "roster", "remove", *jids)
    assert dry.code == real.code == code
    if code:
        assert "dry run:" in dry.stderr


def test_sub_cancel_of_a_contact_we_do_not_see_is_nothing_to_do(run_fake):
    carol = RosterItem("carol@example.org", None, "from", False, ())
    fake = FakeSession.with_roster(ALICE, carol)
    r = run_fake(fake, "sub", "cancel", "alice@example.org", "carol@example.org", "dan@example.org", "-o", "json")
    assert r.code == 0, r.stderr
    assert {row["jid"]: row["status"] for row in r.json()} == {
        "alice@example.org": "sent", "carol@example.org": "nothing-to-do", "dan@example.org": "nothing-to-do"}
    assert [s for s in fake.sent if s[0] == "subscription"] == [("subscription", "alice@example.org", "unsubscribe")]


def test_sub_request_group_replaces_like_roster_add_and_add_group_adds(run_fake):
    fake = FakeSession.with_roster(ALICE, BOB)
    assert run_fake(fake, "sub", "request", "bob@example.org", "-g", "New").code == 0
    assert fake.roster["bob@example.org"].groups == ("New",)
    assert run_fake(fake, "sub", "request", "alice@example.org", "--add-group", "New").code == 0
    assert sorted(fake.roster["alice@example.org"].groups) == ["Friends", "New"]
    r = run_fake(fake, "sub", "request", "alice@example.org", "-g", "A", "--add-group", "B")
    assert r.code == 2


def test_a_bad_choice_is_answered_in_our_words(run_fake):
    fake = FakeSession.with_roster(ALICE)
    r = run_fake(fake, "roster", "list", "-o", "yaml")
    assert (r.code, r.stderr) == (2, "xmppctl: -o/--output 'yaml': not one of table, json, ndjson, csv, prometheus\n")
    assert fake.opened == []


def test_help_shows_no_internal_types():
    import re

    import typer.main

    from xmppctl.cli import app

    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, path + [name])
        if not getattr(command, "commands", None):
            yield path, command.get_help(typer.Context(command, info_name=" ".join(path)))

    for path, text in walk(typer.main.get_command(app), []):
        assert not re.search(r"<(int|float|text|bool)[^>]*>|range>", text), (path, text)


def test_an_empty_table_leaves_stdout_empty_and_says_so_on_stderr(run_fake):
    fake = FakeSession.with_roster(ALICE)
    r = run_fake(fake, "roster", "list", "--group", "Nobody", "-o", "table")
    assert (r.code, r.stdout, r.stderr) == (0, "", "xmppctl: no contacts\n")
    r = run_fake(fake, "roster", "list", "--group", "Nobody", "-o", "json")
    assert (r.stdout, r.stderr) == ("[]\n", "")
    r = run_fake(fake, "-q", "roster", "list", "--group", "Nobody", "-o", "table")
    assert (r.stdout, r.stderr) == ("", "")


def test_diff_without_prune_lists_server_only_contacts_as_extra(run_fake, tmp_path):
    path = _roster_file(tmp_path, ALICE)
    fake = FakeSession.with_roster(ALICE, BOB)
    r = run_fake(fake, "roster", "diff", path, "--exit-code", "-o", "json")
    assert r.code == 0, "an extra contact is kept by import: not drift"
    assert r.json() == [{"action": "extra", "jid": "bob@example.org", "changes": [], "note": "kept; --prune would remove"}]
    r = run_fake(fake, "roster", "diff", path, "-o", "table")
    assert "bob@example.org" in r.stdout and "1 extra (kept; --prune would remove)" in r.stderr
    r = run_fake(fake, "roster", "diff", path, "--prune", "-o", "json")
    assert [(row["action"], row["jid"]) for row in r.json()] == [("remove", "bob@example.org")]
