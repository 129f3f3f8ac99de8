"""XEP-0227 files between the servers: ejabberdctl's own export into Prosody, our export into
ejabberdctl's import (both servers in one test; skipped when ejabberd is not selected)."""

from __future__ import annotations

import secrets
import subprocess

from tests.support.helpers import User, roster_by_jid
from tests.support import Contact


def _user(server, prefix: str) -> User:
    name, password = f"{prefix}{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    server.register_many([(name, password)])
    return User(server, name, password)


def _ejabberd_dir(ejabberd, what: str):
    """A directory the ejabberd node (running as the 'ejabberd' user) may write and read."""
    path = ejabberd.directory / f"{what}-{secrets.token_hex(3)}"
    path.mkdir()
    subprocess.run(["chown", "ejabberd:ejabberd", str(path)], check=False)
    return path


def _ctl(ejabberd, *args: str) -> None:
    r = subprocess.run([*ejabberd._ctl(), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       cwd=ejabberd.directory, timeout=120)
    assert r.returncode == 0, f"ejabberdctl {args[0]}: {r.stdout}{r.stderr}"


def test_ejabberd_export_piefxis_imports_into_prosody(prosody, ejabberd, run_cli):
    source = _user(ejabberd, "pie")
    _user(ejabberd, "other")  # a server dump holds every user: the account's one is picked
    ejabberd.seed_roster(source.name, [Contact("bob@localhost", "Bob B", ("Friends", "Work"), "both"),
                                       Contact("carol@ext.example", None, (), "to", True),
                                       Contact("erin@ext.example", "Erin", ("Ö",), "from")],
                         pending_in=["dave@ext.example"])
    out = _ejabberd_dir(ejabberd, "export")
    _ctl(ejabberd, "export_piefxis", str(out))
    index = next(p for p in out.iterdir() if "_" not in p.name)  # <stamp>.xml includes <stamp>_<host>.xml
    assert "xi:include" in index.read_text()
    target = _user(prosody, "pie")

    r = run_cli(target, "roster", "import", str(index), "-o", "json")
    assert r.code == 2 and target.jid in r.stderr and "users in it" in r.stderr  # not there: who is

    r = run_cli(target, "roster", "diff", str(index), "--user", source.jid, "-o", "json")
    assert r.code == 0, r.stderr
    actions = {(row["action"], row["jid"]) for row in r.json()}
    assert ("pending", "dave@ext.example") in actions and ("subscription", "bob@localhost") in actions

    r = run_cli(target, "roster", "import", str(index), "--user", source.jid, "-o", "json")
    assert r.code == 0, r.stderr
    # ejabberd's export keeps only the request of a contact with a pending request: said on import
    assert "dave@ext.example" in r.stderr and "ejabberd" in r.stderr
    got = roster_by_jid(run_cli, target)
    assert {j: (i["name"], i["groups"]) for j, i in got.items()} == {
        "bob@localhost": ("Bob B", ["Friends", "Work"]), "carol@ext.example": (None, []),
        "erin@ext.example": ("Erin", ["Ö"])}
    assert "scram" not in r.stdout + r.stderr and "stored-key" not in r.stdout + r.stderr


def test_our_export_of_prosody_loads_with_ejabberdctl_import_piefxis(prosody, ejabberd, run_cli):
    source = _user(prosody, "pie")
    prosody.seed_roster(source.name, [Contact("bob@localhost", "Bob B", ("Friends", "Work"), "both"),
                                      Contact("carol@ext.example", None, (), "to", True),
                                      Contact("erin@ext.example", "Érin <&>", ("G'1",), "from")],
                        pending_in=["dave@ext.example"])
    out = _ejabberd_dir(ejabberd, "import")
    path = out / "roster.xml"
    r = run_cli(source, "roster", "export", "--file", str(path))  # .xml: XEP-0227
    assert r.code == 0, r.stderr
    text = path.read_text()
    assert "<server-data xmlns='urn:xmpp:pie:0'>" in text and 'from="dave@ext.example"' in text
    assert "password" not in text and "scram" not in text
    # the same local name on ejabberd's host of the same name (the file's host and user)
    target = User(ejabberd, source.name, secrets.token_urlsafe(12))
    ejabberd.register_many([(target.name, target.password)])
    subprocess.run(["chown", "ejabberd:ejabberd", str(path)], check=False)
    _ctl(ejabberd, "import_piefxis", str(path))

    want = roster_by_jid(run_cli, source)
    got = roster_by_jid(run_cli, target)
    assert {j: (i["name"], i["groups"]) for j, i in got.items()} == {j: (i["name"], i["groups"]) for j, i in want.items()}


def test_prosody_xep0227_storage_file_reads(tmp_path, run_cli):
    """A file Prosody's own mod_storage_xep0227 wrote: one <user>@<host>.xml per user."""
    from tests.support.peer import send_subscribe
    from tests.support import ProsodyServer

    with ProsodyServer(tmp_path / "pie-prosody", storage="xep0227") as server:
        alice, bob, carol, dave = (User(server, n, secrets.token_urlsafe(12)) for n in ("alice", "bob", "carol", "dave"))
        for user in (alice, bob, carol, dave):
            server.prosodyctl_register(user.name, user.password)
        r = run_cli(alice, "roster", "add", bob.jid, "--name", "Bob B", "--group", "Friends", "--group", "Work",
                    "--subscribe")
        assert r.code == 0, r.stderr
        send_subscribe(carol, alice.jid)  # pending inbound: kept in the file as <presence type='subscribe'/>
        stored = server.data_dir / f"{alice.jid}.xml"
        assert "urn:xmpp:pie:0" in stored.read_text()
        r = run_cli(dave, "roster", "import", str(stored), "-o", "json")  # a single-user file: its user
        assert r.code == 0, r.stderr
        got = roster_by_jid(run_cli, dave)
        assert {j: (i["name"], i["groups"]) for j, i in got.items()} == {bob.jid: ("Bob B", ["Friends", "Work"])}
    from xmppctl.roster.files import load_roster_source

    source = load_roster_source(str(stored))
    assert source.user == alice.jid
    assert [(i.jid, i.name, i.groups, i.subscription, i.ask) for i in source.items] == [
        (bob.jid, "Bob B", ("Friends", "Work"), "none", True)]
    assert source.pending_in == (carol.jid,)


def test_migrate_from_prosody_to_ejabberd_copies_names_and_groups(prosody, ejabberd, run_cli, tmp_path):
    """Across servers only the items (s2s is off): names and groups arrive, nothing is requested
    for contacts without a subscription, a contact who saw OLD waits for its own request."""
    from tests.integration.test_fleet import _config

    old, new = _user(prosody, "mold"), _user(ejabberd, "mnew")
    prosody.seed_roster(old.name, [Contact("ann@ext.example", "Ann", ("Family", "Ö"), "none"),
                                   Contact("ben@ext.example", None, ("Work",), "none"),
                                   Contact("cat@ext.example", "Cat", (), "from")])
    config = _config(tmp_path, {"old": old, "new": new})
    r = run_cli(None, "--config", config, "-a", "old", "roster", "migrate", "--to", "new", "-o", "json")
    assert r.code == 0, r.stderr
    assert {row["jid"]: (row["copied"], row["step"], row["status"]) for row in r.json()} == {
        "ann@ext.example": ("add", "none", "done"), "ben@ext.example": ("add", "none", "done"),
        "cat@ext.example": ("add", "none", "waiting")}  # ejabberd: no pre-approval; approved when cat asks
    got = roster_by_jid(run_cli, new)
    assert {j: (i["name"], i["groups"]) for j, i in got.items()} == {
        "ann@ext.example": ("Ann", ["Family", "Ö"]), "ben@ext.example": (None, ["Work"]),
        "cat@ext.example": ("Cat", [])}
