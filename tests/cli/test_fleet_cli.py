"""Fleet mode in the CLI against fake sessions: selection, one document per format, exit codes,
refusals.  What real servers do across many accounts is in tests/integration/test_fleet.py."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from tests.fakes import FakeSession
from tests.helpers import Result
from xmppctl.errors import AuthError
from xmppctl.roster import RosterItem

NAMES = ("bot-a", "bot-b", "home")


class TerminalInput(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def fleet(tmp_path, monkeypatch, capsys):
    """run(*args, failing={name: exc}) with accounts bot-a, bot-b, home, each its own fake session."""
    from xmppctl.cli import main

    config = tmp_path / "config.toml"
    config.write_text("".join(f'[accounts.{n}]\njid = "{n}@example.org"\npassword = "pw-{n}"\n' for n in NAMES))
    config.chmod(0o600)
    fakes = {n: FakeSession.with_roster(RosterItem(f"friend-of-{n}@example.org", n.upper(), "both"),
                                        bare_jid=f"{n}@example.org") for n in NAMES}
    seen: list[str] = []

    def run(*args: str, failing: dict | None = None, tty: bool = False) -> Result:
        def factory(st, **kwargs):
            seen.append(st.account)
            if st.account in (failing or {}):
                raise failing[st.account]
            return fakes[st.account].factory(st, **kwargs)

        monkeypatch.setattr(sys, "stdin", (TerminalInput if tty else io.StringIO)(""))
        capsys.readouterr()
        code = main(["--config", str(config), *args], session_factory=factory)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    run.fakes, run.seen = fakes, seen
    return run


def test_glob_runs_each_account_and_prefixes_rows_in_one_json_list(fleet):
    r = fleet("-a", "bot-*", "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert [(row["account"], row["jid"]) for row in r.json()] == [
        ("bot-a", "friend-of-bot-a@example.org"), ("bot-b", "friend-of-bot-b@example.org")]
    assert list(r.json()[0])[0] == "account"
    assert sorted(fleet.seen) == ["bot-a", "bot-b"]


def test_all_accounts_csv_has_one_header_and_a_failed_account_goes_to_stderr(fleet):
    r = fleet("--all-accounts", "roster", "list", "-o", "csv", failing={"bot-b": AuthError("not-authorized")})
    assert r.code == 7
    lines = list(csv.reader(io.StringIO(r.stdout)))
    assert lines[0] == ["account", "jid", "name", "subscription", "ask", "groups"]
    assert [line[0] for line in lines[1:]] == ["bot-a", "home"]
    assert "bot-b" in r.stderr and "exit 3" in r.stderr


def test_failed_account_is_an_error_row_in_ndjson_and_all_failed_alike_exit_with_that_code(fleet):
    r = fleet("-a", "bot-a", "-a", "home", "roster", "list", "-o", "ndjson", failing={"home": AuthError("bad")})
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.code == 7
    assert rows[-1] == {"account": "home", "error": "auth", "message": "bad", "exit": 3} or (
        rows[-1]["account"] == "home" and rows[-1]["exit"] == 3)
    r = fleet("--all-accounts", "roster", "list", "-o", "json", failing={n: AuthError("bad") for n in NAMES})
    assert r.code == 3 and [row["account"] for row in r.json()] == list(NAMES)


def test_roster_add_in_fleet_mode_edits_every_selected_account(fleet):
    r = fleet("-a", "bot-*", "roster", "add", "new@example.org", "--name", "New", "-o", "json")
    assert r.code == 0, r.stderr
    assert [(row["account"], row["action"], row["ok"]) for row in r.json()] == [("bot-a", "add", True), ("bot-b", "add", True)]
    assert "new@example.org" in fleet.fakes["bot-a"].roster and "new@example.org" not in fleet.fakes["home"].roster


def test_commands_without_fleet_support_refuse_it_before_anything_is_sent(fleet):
    r = fleet("--all-accounts", "presence", "set", "--show", "away")
    assert r.code == 2 and "does not run across many accounts" in r.stderr
    assert fleet.seen == []
    r = fleet("-a", "nope-*", "roster", "list")
    assert r.code == 2 and "matches no account" in r.stderr


def test_one_plain_account_keeps_the_single_account_output(fleet):
    r = fleet("-a", "home", "roster", "list", "-o", "json")
    assert r.code == 0 and "account" not in r.json()[0]


def test_group_delete_with_remove_contacts_asks_once_for_the_combined_plan(fleet, monkeypatch):
    import xmppctl.cli.prompt as prompt

    asked: list[str] = []

    async def confirm(question: str) -> bool:
        asked.append(question)
        return True

    monkeypatch.setattr(prompt, "confirm", confirm)
    for name in NAMES:
        fleet.fakes[name].roster = {f"x@{name}.org": RosterItem(f"x@{name}.org", None, "none", False, ("Old",))}
    r = fleet("--all-accounts", "group", "delete", "Old", "--remove-contacts", "-o", "json", tty=True)
    assert r.code == 0, r.stderr
    assert len(asked) == 1 and "Remove 3 contact(s)" in asked[0]
    assert all(fake.roster == {} for fake in fleet.fakes.values())


def test_sub_request_in_fleet_mode_sends_from_every_account(fleet):
    r = fleet("-a", "bot-a", "-a", "home", "sub", "request", "peer@example.org", "-o", "json")
    assert r.code == 0, r.stderr
    assert [row["account"] for row in r.json()] == ["bot-a", "home"]
    assert ("subscription", "peer@example.org", "subscribe") in fleet.fakes["home"].sent
    assert fleet.fakes["bot-b"].sent == []
    before = list(fleet.fakes["bot-a"].sent)
    r = fleet("-a", "bot-*", "sub", "request", "bot-b@example.org", "-o", "json")
    assert r.code == 2 and fleet.fakes["bot-a"].sent == before, "an account's own JID is refused before anything is sent"


def test_team_sync_refuses_account_selection_and_validates_the_file_first(fleet, tmp_path):
    team = tmp_path / "team.toml"
    team.write_text('group = "Ops"\n[[member]]\naccount = "bot-a"\n[[member]]\naccount = "ghost"\n')
    r = fleet("team", "sync", str(team))
    assert r.code == 2 and "team.toml:5: account" in r.stderr and "ghost" in r.stderr
    assert fleet.seen == []
    r = fleet("-a", "bot-*", "team", "sync", str(team))
    assert r.code == 2 and "team file names its accounts" in r.stderr


def test_progress_bar_counts_accounts_on_a_terminal_only(fleet, monkeypatch):
    class TtyErr(io.StringIO):
        def isatty(self) -> bool:
            return True

    from xmppctl.cli.fleet import _progress_bar

    err = TtyErr()
    monkeypatch.setattr(sys, "stderr", err)
    show = _progress_bar(3)
    for done in (1, 2, 3):
        show(done, 3)
    assert "0/3 accounts" in err.getvalue() and "3/3 accounts" in err.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert _progress_bar(3) is None


def test_sessions_of_one_process_share_the_tls_context_of_their_settings():
    """Loading the system CA store per session was most of a fleet run's CPU (bench/RESULTS.md)."""
    import ssl

    from xmppctl.config import Account
    from xmppctl.session import _tls_context

    a, b = Account(jid="a@example.org"), Account(jid="b@example.org")
    assert _tls_context(a) is _tls_context(b)
    assert _tls_context(a).verify_mode == ssl.CERT_REQUIRED and _tls_context(a).check_hostname
    insecure = Account(jid="c@example.org", insecure=True)
    assert _tls_context(insecure) is not _tls_context(a) and _tls_context(insecure).verify_mode == ssl.CERT_NONE
