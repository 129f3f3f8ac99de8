"""Fleet mode in the CLI against fake sessions: selection, one document per format, exit codes,
refusals.  What real servers do across many accounts is in tests/integration/test_fleet.py."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from tests.support.fakes import FakeSession
from tests.support.helpers import Result
from xmppctl.errors import AuthError, ConnectionFailure
from xmppctl.roster.items import RosterItem

NAMES = ("bot-a", "bot-b", "home")


@pytest.fixture
def fleet(tmp_path, cli):
    """run(*args, failing={name: exc}) with accounts bot-a, bot-b, home, each its own fake session."""
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

        return cli(["--config", str(config), *args], session_factory=factory, tty=tty)

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
    r = fleet("--all-accounts", "presence", "explain", "x@example.org")
    assert r.code == 2 and "does not run across many accounts" in r.stderr
    assert "diagnoses one contact" in r.stderr  # each refusal says why
    r = fleet("-a", "bot-*", "account", "test")
    assert r.code == 2 and "reports one account's login" in r.stderr
    assert fleet.seen == []
    r = fleet("-a", "nope-*", "roster", "list")
    assert r.code == 2 and "matches no account" in r.stderr


def test_one_plain_account_keeps_the_single_account_output(fleet):
    r = fleet("-a", "home", "roster", "list", "-o", "json")
    assert r.code == 0 and "account" not in r.json()[0]


def _delete_old_group(fleet, monkeypatch, while_asked=lambda: None):
    """group delete Old --remove-contacts on every account (each has x@NAME.org in Old), answering
    yes after *while_asked* ran; returns (result, the questions asked)."""
    import xmppctl.cli.prompt as prompt

    asked: list[str] = []

    async def confirm(question: str) -> bool:
        asked.append(question)
        while_asked()
        return True

    monkeypatch.setattr(prompt, "confirm", confirm)
    for name in NAMES:
        fleet.fakes[name].roster = {f"x@{name}.org": RosterItem(f"x@{name}.org", None, "none", False, ("Old",))}
    return fleet("--all-accounts", "group", "delete", "Old", "--remove-contacts", "-o", "json", tty=True), asked


def test_group_delete_with_remove_contacts_asks_once_for_the_combined_plan(fleet, monkeypatch):
    r, asked = _delete_old_group(fleet, monkeypatch)
    assert r.code == 0, r.stderr
    assert len(asked) == 1 and "Remove 3 contact(s)" in asked[0]
    assert all(fake.roster == {} for fake in fleet.fakes.values())


def test_group_delete_second_pass_removes_only_what_was_confirmed(fleet, monkeypatch):
    """A contact put into the group after the question (another client) is not removed unasked."""
    def another_client_adds_to_old() -> None:
        fleet.fakes["home"].roster["y@home.org"] = RosterItem("y@home.org", None, "both", False, ("Old",))

    r, _ = _delete_old_group(fleet, monkeypatch, another_client_adds_to_old)
    assert r.code == 7, r.stderr
    assert "roster changed since the confirmation" in r.stdout + r.stderr
    assert fleet.fakes["home"].roster_writes() == [] and set(fleet.fakes["home"].roster) == {"x@home.org", "y@home.org"}
    assert fleet.fakes["bot-a"].roster == fleet.fakes["bot-b"].roster == {}


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


def _prune_ready_team(fleet, tmp_path) -> str:
    """bot-a and bot-b already a converged team in Ops; home, a former member, still in bot-a's Ops."""
    for me, other in (("bot-a", "bot-b"), ("bot-b", "bot-a")):
        fleet.fakes[me].roster[f"{other}@example.org"] = RosterItem(f"{other}@example.org", other, "both", groups=("Ops",))
    fleet.fakes["bot-a"].roster["home@example.org"] = RosterItem("home@example.org", "Home", "both", groups=("Ops",))
    team = tmp_path / "team.toml"
    team.write_text('group = "Ops"\n[[member]]\naccount = "bot-a"\n[[member]]\naccount = "bot-b"\n')
    return str(team)


def test_team_sync_prune_names_its_backup_on_stderr_unless_quiet(fleet, tmp_path):
    team = _prune_ready_team(fleet, tmp_path)
    r = fleet("--quiet", "team", "sync", team, "--prune", "--yes", "-o", "json")
    assert r.code == 0, r.stderr
    assert ("roster-remove", "home@example.org") in fleet.fakes["bot-a"].sent
    assert [row["status"] for row in r.json()] == ["converged", "converged"]
    assert len(list(tmp_path.glob("roster-backup-bot-a@example.org-*.toml"))) == 1, "the backup is written all the same"
    assert "backup" not in r.stderr, "--quiet: informational lines are not written"
    fleet.fakes["bot-a"].roster["home@example.org"] = RosterItem("home@example.org", "Home", "both", groups=("Ops",))
    r = fleet("team", "sync", team, "--prune", "--yes", "-o", "json")
    assert r.code == 0, r.stderr
    assert "xmppctl: bot-a: backup of the current roster written to " in r.stderr


def test_progress_bar_counts_accounts_on_a_terminal_only(fleet, monkeypatch):
    class TtyErr(io.StringIO):
        def isatty(self) -> bool:
            return True

    from xmppctl.cli.run import _progress_bar

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
    from xmppctl.xmpp.session import _tls_context

    a, b = Account(jid="a@example.org"), Account(jid="b@example.org")
    assert _tls_context(a) is _tls_context(b)
    assert _tls_context(a).verify_mode == ssl.CERT_REQUIRED and _tls_context(a).check_hostname
    insecure = Account(jid="c@example.org", insecure=True)
    assert _tls_context(insecure) is not _tls_context(a) and _tls_context(insecure).verify_mode == ssl.CERT_NONE


# ---- sub pending / approve / deny ------------------------------------------------------------


def _pending(fleet, **requests: list[str]) -> None:
    for name, jids in requests.items():
        fleet.fakes[name].pending_in = list(jids)


def test_sub_pending_lists_each_accounts_requests_with_a_leading_account(fleet):
    _pending(fleet, **{"bot-a": ["x@example.net"], "home": ["y@example.net", "z@example.net"]})
    r = fleet("-a", "bot-a", "-a", "home", "sub", "pending", "--settle", "0", "-o", "json")
    assert r.code == 0, r.stderr
    assert [(row["account"], row["direction"], row["jid"]) for row in r.json()] == [
        ("bot-a", "in", "x@example.net"), ("home", "in", "y@example.net"), ("home", "in", "z@example.net")]
    assert list(r.json()[0]) == ["account", "direction", "jid", "subscription", "nick", "message"]
    assert all(fake.sent == [fake.sent[0]] for fake in fleet.fakes.values() if fake.sent), "a presence, no answer"


def test_sub_approve_answers_each_accounts_own_requests_and_warns_per_account(fleet):
    _pending(fleet, **{"bot-a": ["x1@example.net", "other@example.net"], "home": ["x2@example.net"]})
    r = fleet("--all-accounts", "sub", "approve", "--match", "x*", "--settle", "0", "-o", "json")
    assert r.code == 0, r.stderr
    assert [(row["account"], row["jid"], row["status"]) for row in r.json()] == [
        ("bot-a", "x1@example.net", "sent"), ("home", "x2@example.net", "sent")]
    assert "warning: bot-a: 1 other pending request(s) not answered: other@example.net" in r.stderr
    assert "bot-b: no pending request selected" in r.stderr
    assert ("subscription", "x1@example.net", "subscribed") in fleet.fakes["bot-a"].sent
    assert not [s for s in fleet.fakes["home"].sent if s[0] == "subscription" and s[1] != "x2@example.net"]


def test_sub_approve_of_a_jid_pending_on_one_account_only_is_exit_7_with_the_others_error_row(fleet):
    _pending(fleet, **{"bot-a": ["x@example.net"]})
    r = fleet("-a", "bot-a", "-a", "home", "sub", "approve", "x@example.net", "--settle", "0", "-o", "json")
    assert r.code == 7, r.stderr
    rows = r.json()
    assert [(row["account"], row.get("status"), row.get("exit")) for row in rows] == [
        ("bot-a", "sent", None), ("home", "not-pending", None), ("home", None, 6)]
    assert not [s for s in fleet.fakes["home"].sent if s[0] == "subscription"], "nothing sent to a JID not pending"
    r = fleet("-a", "bot-a", "-a", "home", "sub", "approve", "bot-a@example.org", "-o", "json")
    assert r.code == 2 and "your own JID" in r.stderr


class BlockingServer(FakeSession):
    """A fake server that offers XEP-0191 and accepts every block."""

    async def query(self, iq_type, payload=None, *, to=None, timeout=None, what="request"):
        import xml.etree.ElementTree as ET

        tag = payload.tag if payload is not None else None
        result = ET.Element("{jabber:client}iq", {"type": "result"})
        if tag == "{http://jabber.org/protocol/disco#info}query":
            ET.SubElement(ET.SubElement(result, tag), tag.replace("query", "feature"), {"var": "urn:xmpp:blocking"})
            return result
        if tag == "{urn:xmpp:blocking}blocklist":
            ET.SubElement(result, tag)
            return result
        if tag == "{urn:xmpp:blocking}block":
            self.sent.append(("block", [item.get("jid") for item in payload]))
            return result
        return await super().query(iq_type, payload, to=to, timeout=timeout, what=what)


def test_sub_deny_block_blocks_per_account_and_an_account_without_blocking_sends_nothing(fleet):
    fleet.fakes["bot-a"] = BlockingServer(bare_jid="bot-a@example.org", pending_in=["spam@example.net"])
    _pending(fleet, home=["spam@example.net"])
    r = fleet("-a", "bot-a", "-a", "home", "sub", "deny", "--all", "--block", "--settle", "0", "-o", "csv")
    assert r.code == 7, r.stderr
    lines = list(csv.reader(io.StringIO(r.stdout)))
    assert lines == [["account", "jid", "sent", "status", "subscription", "ask", "error", "blocked"],
                     ["bot-a", "spam@example.net", "unsubscribed", "sent", "none", "false", "", "true"]]
    assert ("block", ["spam@example.net"]) in fleet.fakes["bot-a"].sent
    assert "home:" in r.stderr and "XEP-0191" in r.stderr and "exit 6" in r.stderr
    assert fleet.fakes["home"].sent == [] and fleet.fakes["home"].pending_in == ["spam@example.net"]


# ---- presence set / probe / watch ------------------------------------------------------------


def test_presence_set_sends_the_same_presence_from_every_account(fleet):
    r = fleet("--all-accounts", "presence", "set", "--show", "away", "--status", "gone", "-o", "json",
              failing={"bot-b": ConnectionFailure("refused")})
    assert r.code == 7, r.stderr
    rows = r.json()
    assert [(row["account"], row.get("jid"), row.get("show")) for row in rows] == [
        ("bot-a", "bot-a@example.org/xmppctl-fake", "away"), ("bot-b", None, None), ("home", "home@example.org/xmppctl-fake", "away")]
    assert rows[1]["exit"] == 4
    for name in ("bot-a", "home"):
        assert fleet.fakes[name].sent == [("presence", {"to": None, "type": "available", "show": "away",
                                                        "status": "gone", "priority": -1})]


def test_presence_set_hold_holds_every_session_then_ends_each_with_unavailable(fleet):
    r = fleet("-a", "bot-*", "presence", "set", "--hold", "0.05", "-o", "ndjson")
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(row["account"], row["hold"]) for row in rows] == [("bot-a", 0.05), ("bot-b", 0.05)]
    for name in ("bot-a", "bot-b"):
        assert [s[1]["type"] for s in fleet.fakes[name].sent] == ["available", "unavailable"]
    r = fleet("--parallel", "2", "--all-accounts", "presence", "set", "--hold", "1s")
    assert r.code == 2 and "--parallel 3" in r.stderr
    assert fleet.fakes["home"].sent == []


def test_presence_probe_expect_online_is_drift_when_one_account_sees_its_contact_offline(fleet):
    fleet.fakes["bot-a"].answers = [{"from": "friend-of-bot-a@example.org/phone"}]
    fleet.fakes["home"].answers = [{"from": "friend-of-home@example.org", "type": "unavailable"}]
    r = fleet("-a", "bot-a", "-a", "home", "presence", "probe", "--expect-online", "-o", "json")
    assert r.code == 10, r.stderr
    assert [(row["account"], row["jid"], row["state"]) for row in r.json()] == [
        ("bot-a", "friend-of-bot-a@example.org", "online"), ("home", "friend-of-home@example.org", "offline")]
    drift = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    assert [(d["account"], d["exit"]) for d in drift] == [("home", 10)]
    r = fleet("-a", "bot-a", "-a", "home", "presence", "probe", "--expect-online", "-o", "json",
              failing={"bot-a": AuthError("bad")})
    assert r.code == 7, "a failed account outweighs drift"


def test_presence_watch_interleaves_every_accounts_events_and_a_failed_login_is_an_error_row(fleet):
    fleet.fakes["bot-a"].answers = [{"from": "friend-of-bot-a@example.org/phone"}]
    fleet.fakes["home"].answers = [{"from": "friend-of-home@example.org/pc", "type": "unavailable"}]
    r = fleet("--all-accounts", "presence", "watch", "--until", "0.1", "-o", "ndjson",
              failing={"bot-b": AuthError("bad")})
    assert r.code == 7, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows[0] == {"account": "bot-b", "error": "auth", "message": "bad", "exit": 3}
    assert sorted((row["account"], row["jid"], row["type"]) for row in rows[1:]) == [
        ("bot-a", "friend-of-bot-a@example.org", "available"), ("home", "friend-of-home@example.org", "unavailable")]
    assert list(rows[1])[:2] == ["account", "at"]
    r = fleet("-a", "bot-a", "-a", "home", "presence", "watch", "--until", "0.1", "-o", "table")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["account", "time", "jid/resource"]
    assert {line.split()[0] for line in lines[1:]} == {"bot-a", "home"}


class Interrupting(FakeSession):
    """A fake whose initial presence is followed by a SIGINT to this process (a Ctrl-C)."""

    def send_initial_presence(self, priority, **kwargs):
        import asyncio
        import os
        import signal

        super().send_initial_presence(priority, **kwargs)
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGINT)


def test_presence_watch_ctrl_c_ends_the_watch_of_every_account_with_exit_0(fleet):
    fleet.fakes["bot-a"] = Interrupting(bare_jid="bot-a@example.org", answers=[{"from": "a@example.net/x"}])
    fleet.fakes["home"].answers = [{"from": "h@example.net/y"}]
    r = fleet("-a", "bot-a", "-a", "home", "presence", "watch", "-o", "json")
    assert r.code == 0, r.stderr
    assert sorted((row["account"], row["jid"]) for row in r.json()) == [("bot-a", "a@example.net"), ("home", "h@example.net")]


def test_every_command_declares_whether_it_runs_across_accounts_and_says_why_not_in_its_help():
    from xmppctl.cli import root_command
    from xmppctl.cli.selection import ACROSS, declaration

    def commands(group, path=()):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):  # a group
                yield from commands(cmd, (*path, name))
            else:
                yield " ".join((*path, name)), cmd

    undeclared, silent = [], []
    for path, cmd in commands(root_command()):
        declared = declaration(cmd.callback)
        if declared is None:
            undeclared.append(path)
        elif declared != ACROSS and declared not in " ".join((cmd.help or "").split()):
            silent.append(path)
    assert undeclared == [] and silent == []


@pytest.mark.parametrize("accounts", [("-a", "bot-a"), ("-a", "bot-*")], ids=["one", "fleet"])
@pytest.mark.parametrize("argv", [
    ("roster", "remove", "x1@example.org", "x2@example.org"),
    ("roster", "set", "x1@example.org", "--name", "X"),
    ("group", "add", "G", "x1@example.org", "x2@example.org"),
    ("sub", "approve", "x1@example.org", "x2@example.org"),
    ("sub", "deny", "x1@example.org", "x2@example.org"),
], ids=lambda a: " ".join(a[:2]))
def test_like_cases_exit_alike_every_item_unknown_is_6_in_single_and_fleet_mode(fleet, accounts, argv):
    r = fleet(*accounts, *argv, "-o", "json")
    assert r.code == 6, r.stderr
    assert all(s[0] != "roster-set" and s[0] != "roster-remove" for f in fleet.fakes.values() for s in f.sent)


@pytest.mark.parametrize("accounts", [("-a", "bot-a"), ("-a", "bot-*")], ids=["one", "fleet"])
def test_some_items_unknown_and_others_applied_is_7_in_single_and_fleet_mode(fleet, accounts):
    r = fleet(*accounts, "roster", "remove", "x1@example.org", "friend-of-bot-a@example.org", "-o", "json")
    assert r.code == 7, r.stderr


def test_block_runs_across_accounts_and_a_server_without_it_is_6_for_all(fleet):
    r = fleet("-a", "bot-*", "block", "list", "-o", "json")
    assert r.code == 6 and [row["account"] for row in r.json()] == ["bot-a", "bot-b"]
    assert all(row["error"] == "refused" for row in r.json())


@pytest.mark.parametrize("accounts", [("-a", "bot-a"), ("-a", "bot-*")], ids=["one", "fleet"])
def test_an_import_whose_every_set_is_refused_is_6_in_single_and_fleet_mode(fleet, accounts, tmp_path):
    roster = tmp_path / "r.toml"
    roster.write_text('[[contact]]\njid = "n1@example.org"\n\n[[contact]]\njid = "n2@example.org"\n')
    for fake in fleet.fakes.values():
        fake.refuse = {"n1@example.org": "not-allowed", "n2@example.org": "not-allowed"}
    r = fleet(*accounts, "roster", "import", str(roster), "-o", "json")
    assert r.code == 6, r.stderr
    fleet.fakes["bot-a"].refuse = {"n1@example.org": "not-allowed"}  # one applied: partial
    r = fleet(*accounts, "roster", "import", str(roster), "-o", "json")
    assert r.code == 7, r.stderr


@pytest.mark.parametrize("accounts", [("-a", "bot-a"), ("-a", "bot-*")], ids=["one", "fleet"])
def test_block_on_a_server_without_it_is_6_in_single_and_fleet_mode(fleet, accounts):
    r = fleet(*accounts, "block", "add", "spam@example.net", "-o", "json")
    assert r.code == 6, r.stderr
    assert all(s[0] not in ("block", "unblock") for f in fleet.fakes.values() for s in f.sent)


@pytest.mark.parametrize("accounts", [("-a", "bot-a"), ("-a", "bot-*")], ids=["one", "fleet"])
def test_every_account_failing_alike_is_that_code_and_differently_is_1(fleet, accounts):
    from xmppctl.errors import AuthError, TimeoutFailure

    names = ("bot-a",) if accounts[1] == "bot-a" else ("bot-a", "bot-b")
    r = fleet(*accounts, "roster", "list", "-o", "json", failing={n: AuthError("bad") for n in names})
    assert r.code == 3, r.stderr
    if len(names) > 1:
        r = fleet(*accounts, "roster", "list", "-o", "json", failing={"bot-a": AuthError("bad"), "bot-b": TimeoutFailure("slow")})
        assert r.code == 1, r.stderr


def test_team_sync_whose_every_member_fails_alike_exits_with_that_code(fleet, tmp_path):
    from xmppctl.errors import AuthError

    team = tmp_path / "team.toml"
    team.write_text('group = "Ops"\n[[member]]\naccount = "bot-a"\n[[member]]\naccount = "bot-b"\n')
    r = fleet("team", "sync", str(team), "-o", "json", failing={"bot-a": AuthError("bad"), "bot-b": AuthError("bad")})
    assert r.code == 3, r.stderr
    assert {row["status"] for row in r.json()} == {"failed"}
