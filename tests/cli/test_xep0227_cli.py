"""XEP-0227 files and roster migrate in the CLI against fake sessions: what is refused before
any login, and what a fleet import takes from a multi-user file."""

from __future__ import annotations

from tests.cli.test_fleet_cli import fleet  # noqa: F401  (a fixture)

DUMP = """<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'>
<user name='bot-a'><password>secret-a</password><query xmlns='jabber:iq:roster'>
<item jid='x@example.net' name='X' subscription='both'><group>G</group></item></query></user>
<user name='bot-b'><query xmlns='jabber:iq:roster'><item jid='y@example.net' subscription='to'/></query>
<presence xmlns='jabber:client' type='subscribe' from='z@example.net'/></user>
</host></server-data>
"""


def test_fleet_import_of_a_multi_user_file_needs_user_and_then_imports_it_everywhere(fleet, tmp_path):  # noqa: F811
    dump = tmp_path / "dump.xml"
    dump.write_text(DUMP)
    r = fleet("-a", "bot-*", "roster", "import", str(dump))
    assert r.code == 2 and "--user" in r.stderr and "bot-a@example.org, bot-b@example.org" in r.stderr
    assert fleet.seen == []
    r = fleet("-a", "bot-*", "roster", "import", str(dump), "--user", "bot-a@example.org", "-o", "json")
    assert r.code == 0, r.stderr
    for name in ("bot-a", "bot-b"):
        assert fleet.fakes[name].roster["x@example.net"].groups == ("G",)
    assert "secret-a" not in r.stdout + r.stderr


def test_single_account_picks_its_own_user_and_diff_shows_what_import_cannot_send(fleet, tmp_path):  # noqa: F811
    dump = tmp_path / "dump.xml"
    dump.write_text(DUMP)
    r = fleet("-a", "bot-b", "roster", "diff", str(dump), "-o", "json", "--exit-code")
    assert r.code == 10, r.stderr  # y@ is missing: drift; the subscription and the pending request are not
    assert [(row["action"], row["jid"]) for row in r.json()] == [
        ("add", "y@example.net"), ("extra", "friend-of-bot-b@example.org"), ("subscription", "y@example.net"),
        ("pending", "z@example.net")]
    r = fleet("-a", "home", "roster", "diff", str(dump))
    assert r.code == 2 and "home@example.org" in r.stderr and "users in it (2)" in r.stderr


def test_migrate_refuses_fleet_mode_and_a_missing_yes(fleet):  # noqa: F811
    r = fleet("-a", "bot-*", "roster", "migrate", "--to", "home")
    assert r.code == 2 and "does not run across many accounts" in r.stderr
    r = fleet("-a", "bot-a", "roster", "migrate", "--to", "home", "--unsubscribe-old")
    assert r.code == 2 and "--yes" in r.stderr
    assert fleet.seen == []


def test_migrate_exits_7_when_a_step_failed_and_reports_the_row(fleet):  # noqa: F811
    from xmppctl.roster.items import RosterItem

    old, new = fleet.fakes["bot-a"], fleet.fakes["bot-b"]
    old.roster["bad@example.net"] = RosterItem("bad@example.net", "Bad", "to")
    new.refuse["bad@example.net"] = "not-acceptable"
    r = fleet("-a", "bot-a", "roster", "migrate", "--to", "bot-b", "-o", "json")
    assert r.code == 7, r.stderr
    rows = {row["jid"]: row for row in r.json()}
    assert (rows["bad@example.net"]["status"], rows["bad@example.net"]["copied"]) == ("failed", "failed")
    assert rows["bad@example.net"]["error"] == "not-acceptable"
    assert rows["friend-of-bot-a@example.org"]["copied"] == "add"
    # no request to a contact whose copy failed
    assert ("subscription", "bad@example.net", "subscribe") not in new.sent
    assert ("subscription", "friend-of-bot-a@example.org", "subscribe") in new.sent
