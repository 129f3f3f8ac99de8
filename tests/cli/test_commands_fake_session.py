"""Commands run in-process against a FakeSession: output formats, exit codes, plans, prompts.

What a server does is tested in tests/integration; here the session is tests/support/fakes.py, so
these check what the CLI makes of it (rows, exit 6/7, dry-run plans, the prune prompt) and
what it sends, in milliseconds.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.support.fakes import FakeSession
from tests.support.helpers import Result
from xmppctl.roster.items import RosterItem

ME = ["--jid", "me@example.org"]
ALICE = RosterItem("alice@example.org", "Alice", "both", False, ("Friends",))
BOB = RosterItem("bob@example.org", None, "to", True, ("Work", "Friends"))


@pytest.fixture
def run_fake(cli):
    """run_fake(fake, 'roster', 'list', ...) -> Result, with every session being *fake*."""

    def run(fake: FakeSession, *args: str, stdin: str = "", tty: bool = False) -> Result:
        return cli(ME + list(args), session_factory=fake.factory, stdin=stdin, tty=tty)

    return run


def test_roster_list_json_and_csv_follow_the_output_contract(run_fake):
    fake = FakeSession.with_roster(BOB, ALICE)
    rows = run_fake(fake, "roster", "list", "-o", "json").json()
    assert rows == [
        {"jid": "alice@example.org", "name": "Alice", "subscription": "both", "ask": False, "groups": ["Friends"]},
        {"jid": "bob@example.org", "name": None, "subscription": "to", "ask": True, "groups": ["Friends", "Work"]},
    ]
    r = run_fake(fake, "roster", "list", "-o", "csv", "--group", "Work")
    assert list(csv.reader(io.StringIO(r.stdout))) == [
        ["jid", "name", "subscription", "ask", "groups"], ["bob@example.org", "", "to", "true", "Friends;Work"]]
    assert fake.sent == []


def test_remove_of_one_known_and_one_unknown_contact_is_partial_exit_7(run_fake):
    fake = FakeSession.with_roster(ALICE)
    r = run_fake(fake, "roster", "remove", "alice@example.org", "ghost@example.org", "-o", "json")
    assert r.code == 7
    assert [(row["jid"], row["ok"], row["error"]) for row in r.json()] == [
        ("alice@example.org", True, None), ("ghost@example.org", False, "item-not-found")]
    assert r.error()["exit"] == 7 and r.error()["details"][0]["jid"] == "ghost@example.org"
    assert fake.roster_writes() == [("roster-remove", "alice@example.org")], "nothing is sent for the unknown JID"


def test_a_single_refused_set_is_exit_6_with_the_servers_condition(run_fake):
    fake = FakeSession.with_roster(ALICE, refuse={"alice@example.org": "not-acceptable"})
    r = run_fake(fake, "roster", "set", "alice@example.org", "--name", "Al", "-o", "json")
    assert r.code == 6
    assert r.error()["condition"] == "not-acceptable"
    assert fake.roster["alice@example.org"].name == "Alice"


def test_add_subscribe_dry_run_plans_the_set_and_the_request_and_sends_nothing(run_fake):
    fake = FakeSession.with_roster(ALICE)
    r = run_fake(fake, "roster", "add", "carol@example.org", "--name", "Carol", "-g", "Friends", "--subscribe",
                 "--dry-run", "-o", "json")
    assert r.code == 0
    assert r.json() == [
        {"action": "add", "jid": "carol@example.org", "note": None, "changes": [
            {"field": "name", "old": None, "new": "Carol"}, {"field": "groups", "old": [], "new": ["Friends"]}]},
        {"action": "subscribe", "jid": "carol@example.org", "changes": [], "note": "would send a subscription request"},
    ]
    assert fake.sent == []


def test_add_subscribe_sends_the_request_after_the_set(run_fake):
    fake = FakeSession.with_roster(ALICE)
    r = run_fake(fake, "roster", "add", "carol@example.org", "--subscribe", "-o", "json")
    assert r.code == 0
    assert [row["action"] for row in r.json()] == ["add", "subscribe"]
    assert [s[0] for s in fake.sent] == ["roster-set", "subscription"]
    assert fake.sent[1] == ("subscription", "carol@example.org", "subscribe")


def test_add_subscribe_sends_no_request_when_the_set_failed(run_fake):
    fake = FakeSession.with_roster(refuse={"carol@example.org": "not-allowed"})
    r = run_fake(fake, "roster", "add", "carol@example.org", "--subscribe", "-o", "json")
    assert r.code == 6
    assert not [s for s in fake.sent if s[0] == "subscription"]


@pytest.fixture
def roster_file(tmp_path):
    path = tmp_path / "roster.toml"
    path.write_text('[[contact]]\njid = "alice@example.org"\nname = "Alice"\ngroups = ["Friends"]\n')
    return path


@pytest.fixture
def terminal_answer(monkeypatch):
    """Answer the prompt with *answer* (run the command with tty=True); returns the questions asked."""
    import xmppctl.cli.prompt as prompt

    asked: list[str] = []

    def set_answer(answer: bool) -> list[str]:
        async def confirm(question: str) -> bool:
            asked.append(question)
            return answer

        monkeypatch.setattr(prompt, "confirm", confirm)
        return asked

    return set_answer


def test_import_prune_declined_at_the_prompt_sends_nothing_and_writes_no_backup(run_fake, roster_file, terminal_answer):
    asked = terminal_answer(False)
    fake = FakeSession.with_roster(ALICE, BOB)
    r = run_fake(fake, "roster", "import", str(roster_file), "--prune", tty=True)
    assert r.code == 1 and "aborted: nothing was changed" in r.stderr
    assert asked == [f"Remove 1 contact(s) not in {roster_file}?"]
    assert fake.sent == []
    assert not list(roster_file.parent.glob("roster-backup-*"))


def test_import_prune_confirmed_backs_up_first_then_removes(run_fake, roster_file, terminal_answer):
    terminal_answer(True)
    fake = FakeSession.with_roster(ALICE, BOB)
    r = run_fake(fake, "roster", "import", str(roster_file), "--prune", "-o", "json", tty=True)
    assert r.code == 0, r.stderr
    [backup] = roster_file.parent.glob("roster-backup-me@example.org-*.toml")
    assert "bob@example.org" in backup.read_text() and str(backup) in r.stderr
    assert r.json() == [{"action": "remove", "jid": "bob@example.org", "ok": True, "error": None, "message": None}]
    assert fake.roster_writes() == [("roster-remove", "bob@example.org")]


def test_import_max_remove_refuses_the_plan_even_in_a_dry_run(run_fake, roster_file):
    fake = FakeSession.with_roster(ALICE, BOB)
    for extra in ((), ("--dry-run",)):
        r = run_fake(fake, "roster", "import", str(roster_file), "--prune", "--yes", "--max-remove", "0", "-o", "json", *extra)
        assert r.code == 2
        assert r.error()["details"] == {"remove": 1, "max_remove": 0}
    assert fake.sent == []
    assert not list(roster_file.parent.glob("roster-backup-*"))


def test_import_dry_run_with_subscribe_lists_the_requests_it_would_send(run_fake, tmp_path):
    path = tmp_path / "new.json"
    path.write_text(json.dumps([{"jid": "carol@example.org"}, {"jid": "alice@example.org", "name": "Alice"}]))
    fake = FakeSession.with_roster(ALICE)
    r = run_fake(fake, "roster", "import", str(path), "--subscribe", "--dry-run", "-o", "json")
    assert r.code == 0
    assert [(row["action"], row["jid"]) for row in r.json()] == [
        ("update", "alice@example.org"), ("add", "carol@example.org"), ("subscribe", "carol@example.org")]
    assert fake.sent == []


def test_group_delete_remove_contacts_declined_exits_1_and_sends_nothing(run_fake, terminal_answer):
    asked = terminal_answer(False)
    fake = FakeSession.with_roster(ALICE, BOB)
    r = run_fake(fake, "group", "delete", "Friends", "--remove-contacts", tty=True)
    assert r.code == 1 and "aborted" in r.stderr
    assert asked == ["Remove 2 contact(s) in 'Friends' from the roster and cancel their subscriptions?"]
    assert fake.sent == []


def test_group_rename_of_an_unknown_group_is_exit_6(run_fake):
    fake = FakeSession.with_roster(ALICE)
    r = run_fake(fake, "group", "rename", "Nope", "Other", "-o", "json")
    assert r.code == 6 and r.error()["condition"] == "item-not-found"
    assert fake.sent == []


class InvisibleServer(FakeSession):
    """A fake server that offers XEP-0186 and records every IQ payload, in order with the presences."""

    async def query(self, iq_type, payload=None, *, to=None, timeout=None, what="request"):
        import xml.etree.ElementTree as ET

        self.sent.append(("iq", iq_type, payload.tag if payload is not None else None, dict(payload.attrib) if payload is not None else {}))
        if payload is not None and payload.tag == "{http://jabber.org/protocol/disco#info}query":
            result = ET.Element("{jabber:client}iq", {"type": "result"})
            ET.SubElement(ET.SubElement(result, payload.tag), payload.tag.replace("query", "feature"),
                          {"var": "urn:xmpp:invisible:0"})
            return result
        if payload is not None and payload.tag == "{urn:xmpp:invisible:0}invisible":
            return ET.Element("{jabber:client}iq", {"type": "result"})
        return await super().query(iq_type, payload, to=to, timeout=timeout, what=what)


def test_watch_invisible_goes_invisible_with_probe_before_any_presence(run_fake):
    fake = InvisibleServer.with_roster(ALICE)
    r = run_fake(fake, "presence", "watch", "--invisible", "--until", "0.2", "-o", "json")
    assert r.code == 0, r.stderr
    kinds = [s[0] if s[0] != "iq" else s[2] for s in fake.sent]
    invisible = kinds.index("{urn:xmpp:invisible:0}invisible")
    assert kinds[:invisible] == ["{http://jabber.org/protocol/disco#info}query"]  # asked first
    assert fake.sent[invisible][3] == {"probe": "true"}  # the server still probes our contacts for us
    assert "presence" in kinds[invisible:]


def test_probe_invisible_sends_the_command_before_reading_the_roster(run_fake):
    fake = InvisibleServer.with_roster(RosterItem("dave@example.org", None, "from", False, ()))
    r = run_fake(fake, "presence", "probe", "--invisible", "-o", "json")
    assert r.code == 0, r.stderr
    assert [s[2] for s in fake.sent if s[0] == "iq"][:2] == ["{http://jabber.org/protocol/disco#info}query",
                                                            "{urn:xmpp:invisible:0}invisible"]
    assert [row["state"] for row in json.loads(r.stdout)] == ["no-subscription"]
