"""`roster export`, `roster diff` and `roster import` in fleet mode, against fake sessions:
per-account files, one document per format, the combined --prune prompt, exit codes.
What real servers do is in tests/integration/test_fleet.py."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.cli.test_fleet_cli import NAMES, fleet  # noqa: F401  (the fixture: accounts bot-a, bot-b, home)
from xmppctl.errors import AuthError
from xmppctl.roster.items import RosterItem


def _file(tmp_path, *jids: str) -> str:
    path = tmp_path / "team.toml"
    path.write_text("".join(f'[[contact]]\njid = "{j}"\nname = "N"\n' for j in jids))
    return str(path)


@pytest.fixture
def asked(monkeypatch):
    """The prompt's questions; answered with asked.answer (yes by default)."""
    import xmppctl.cli.prompt as prompt

    class Questions(list):
        answer = [True]
        #: called while the user "thinks" (between the first pass and the import)
        hook: list = []

    questions = Questions()
    questions.answer, questions.hook = [True], []

    async def confirm(question: str) -> bool:
        questions.append(question)
        for hook in questions.hook:
            hook()
        return questions.answer[0]

    monkeypatch.setattr(prompt, "confirm", confirm)
    return questions


# ---- export ------------------------------------------------------------------------------------


def test_export_writes_one_file_per_account_and_prints_nothing_on_stdout(fleet, tmp_path):
    r = fleet("-a", "bot-*", "roster", "export", "--file", str(tmp_path / "{account}.json"))
    assert r.code == 0, r.stderr
    assert r.stdout == ""
    for name in ("bot-a", "bot-b"):
        rows = json.loads((tmp_path / f"{name}.json").read_text())
        assert [row["jid"] for row in rows] == [f"friend-of-{name}@example.org"]
        assert f"xmppctl: {name}: exported 1 contact(s) to {tmp_path / f'{name}.json'}" in r.stderr
    assert not (tmp_path / "home.json").exists()
    r = fleet("-q", "--all-accounts", "roster", "export", "-o", "csv", "--file", str(tmp_path / "r-{account}"))
    assert r.code == 0 and r.stderr == ""
    assert (tmp_path / "r-home").read_text().splitlines()[0].startswith("jid,name")


@pytest.mark.parametrize("file", [None, "-", "all.toml"])
def test_export_without_account_in_the_file_name_exits_2_before_any_login(fleet, file):
    r = fleet("--all-accounts", "roster", "export", *(("--file", file) if file else ()))
    assert r.code == 2 and "{account}" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert fleet.seen == []


def test_export_of_a_failing_account_is_a_stderr_line_and_the_others_are_written(fleet, tmp_path):
    (tmp_path / "out").mkdir()
    r = fleet("--all-accounts", "roster", "export", "--file", str(tmp_path / "out" / "{account}.toml"),
              failing={"bot-b": AuthError("not-authorized")})
    assert r.code == 7
    assert "bot-b" in r.stderr and "exit 3" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bot-a.toml", "home.toml"]


# ---- diff --------------------------------------------------------------------------------------


def test_diff_is_one_json_list_with_account_first_and_exit_code_10_on_drift(fleet, tmp_path):
    file = _file(tmp_path, "friend-of-bot-a@example.org")
    r = fleet("--all-accounts", "roster", "diff", file, "--exit-code", "-o", "json")
    assert r.code == 10, r.stderr
    rows = r.json()
    assert all(list(row)[0] == "account" for row in rows)
    assert {(row["account"], row["action"], row["jid"]) for row in rows} == {
        ("bot-a", "update", "friend-of-bot-a@example.org"),
        ("bot-b", "add", "friend-of-bot-a@example.org"), ("bot-b", "extra", "friend-of-bot-b@example.org"),
        ("home", "add", "friend-of-bot-a@example.org"), ("home", "extra", "friend-of-home@example.org")}
    r = fleet("--all-accounts", "roster", "diff", file, "-o", "json")
    assert r.code == 0, "drift is no exit code without --exit-code"
    assert all(fake.sent == [] for fake in fleet.fakes.values())


def test_diff_without_drift_exits_0_and_a_table_has_a_summary_line_per_account(fleet, tmp_path):
    fleet.fakes["bot-b"].roster = {}
    file = _file(tmp_path)
    r = fleet("-a", "bot-*", "roster", "diff", file, "--exit-code", "-o", "table")
    assert r.code == 0, "contacts only in the roster are kept by import: not drift"
    assert "xmppctl: bot-a: 0 to add, 0 to update, 0 to remove, 0 unchanged; no drift; 1 extra" in r.stderr
    assert "xmppctl: bot-b: 0 to add, 0 to update, 0 to remove, 0 unchanged; no drift" in r.stderr
    fleet.fakes["bot-a"].roster = {}
    r = fleet("-a", "bot-*", "roster", "diff", file, "--exit-code", "-o", "csv")
    assert r.code == 0 and r.stdout.strip() == "account,action,jid,changes,note"


def test_diff_with_a_failing_account_is_an_error_row_and_exit_7_even_with_drift(fleet, tmp_path):
    file = _file(tmp_path, "new@example.org")
    r = fleet("--all-accounts", "roster", "diff", file, "--exit-code", "-o", "ndjson",
              failing={"home": AuthError("bad")})
    assert r.code == 7
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows[-1]["account"] == "home" and rows[-1]["exit"] == 3
    assert {row["account"] for row in rows[:-1]} == {"bot-a", "bot-b"}


# ---- import ------------------------------------------------------------------------------------


def test_import_csv_is_one_document_with_one_header_and_every_account_is_synced(fleet, tmp_path):
    file = _file(tmp_path, "new@example.org")
    r = fleet("--all-accounts", "roster", "import", file, "-o", "csv")
    assert r.code == 0, r.stderr
    lines = list(csv.reader(io.StringIO(r.stdout)))
    assert lines[0] == ["account", "action", "jid", "ok", "error", "message"]
    assert [(line[0], line[1], line[2]) for line in lines[1:]] == [(n, "add", "new@example.org") for n in NAMES]
    for fake in fleet.fakes.values():
        assert set(fake.roster) == {"new@example.org", f"friend-of-{fake.bare_jid.split('@')[0]}@example.org"}
    r = fleet("--all-accounts", "roster", "import", file, "-o", "json")
    assert r.code == 0 and r.json() == [], "a second import sends nothing"


def test_import_prune_asks_once_for_the_combined_plan_and_backs_up_each_account(fleet, tmp_path, asked):
    file = _file(tmp_path, "new@example.org")
    r = fleet("--all-accounts", "roster", "import", file, "--prune", "-o", "json", tty=True)
    assert r.code == 0, r.stderr
    assert len(asked) == 1
    assert "Remove 3 contact(s)" in asked[0] and "bot-a: 1, bot-b: 1, home: 1" in asked[0]
    assert {(row["account"], row["action"]) for row in r.json()} == {(n, a) for n in NAMES for a in ("add", "remove")}
    assert all(set(fake.roster) == {"new@example.org"} for fake in fleet.fakes.values())
    backups = sorted(p.name for p in tmp_path.glob("roster-backup-*"))
    assert len(backups) == 3
    for name in NAMES:
        assert any(f"roster-backup-{name}@example.org" in b for b in backups)
        assert f"xmppctl: {name}: backup of the current roster (1 contacts) written to" in r.stderr


def test_import_prune_declined_exits_1_and_sends_nothing(fleet, tmp_path, asked):
    asked.answer[0] = False
    r = fleet("--all-accounts", "roster", "import", _file(tmp_path, "new@example.org"), "--prune", tty=True)
    assert r.code == 1 and "aborted" in r.stderr
    assert len(asked) == 1
    assert all(fake.sent == [] for fake in fleet.fakes.values())
    assert list(tmp_path.glob("roster-backup-*")) == []


def test_import_prune_without_a_terminal_needs_yes_before_any_login(fleet, tmp_path):
    r = fleet("--all-accounts", "roster", "import", _file(tmp_path, "new@example.org"), "--prune")
    assert r.code == 2 and "--yes" in r.stderr
    assert fleet.seen == []


def test_import_account_whose_roster_changed_after_the_prompt_removes_nothing(fleet, tmp_path, asked):
    late = RosterItem("late@example.org", None, "none")
    asked.hook.append(lambda: fleet.fakes["bot-b"].roster.__setitem__(late.jid, late))
    r = fleet("-a", "bot-*", "roster", "import", _file(tmp_path, "new@example.org"), "--prune", "-o", "json", tty=True)
    assert r.code == 7
    error = r.json()[-1]
    assert error["account"] == "bot-b" and error["exit"] == 1 and "late@example.org" in error["message"]
    assert fleet.fakes["bot-b"].sent == [], "nobody confirmed removing late@example.org"
    assert set(fleet.fakes["bot-a"].roster) == {"new@example.org"}


def test_import_failing_account_and_max_remove_are_per_account_error_rows(fleet, tmp_path):
    fleet.fakes["home"].roster = {f"x{i}@example.org": RosterItem(f"x{i}@example.org", None, "none") for i in range(3)}
    file = _file(tmp_path, "new@example.org")
    r = fleet("--all-accounts", "roster", "import", file, "--prune", "--yes", "--max-remove", "1", "-o", "json",
              failing={"bot-b": AuthError("bad")})
    assert r.code == 7
    by = {(row["account"], row.get("action") or row.get("error")) for row in r.json()}
    assert by == {("bot-a", "add"), ("bot-a", "remove"), ("bot-b", "auth"), ("home", "usage")}
    assert fleet.fakes["home"].sent == [], "--max-remove refuses that account's whole plan"


def test_import_failed_sets_of_one_account_are_its_error_and_exit_7(fleet, tmp_path):
    fleet.fakes["home"].refuse["new@example.org"] = "not-acceptable"
    r = fleet("--all-accounts", "roster", "import", _file(tmp_path, "new@example.org"), "-o", "json")
    assert r.code == 7
    rows = r.json()
    assert {"account": "home", "action": "add", "jid": "new@example.org", "ok": False, "error": "not-acceptable",
            "message": rows[2]["message"]} in rows
    assert rows[-1]["account"] == "home" and rows[-1]["exit"] == 6
