"""Fleet mode and `team sync` against the real servers: many accounts in one process."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest

from xmppctl.xmpp.ns import ROSTER_NS

from tests.integration.test_presence import befriend, held  # noqa: F401  (held is a fixture)
from tests.support.peer import receive_stored, send_messages, send_subscribe
from tests.support import Contact


def _config(tmp_path, users: dict, wrong: tuple[str, ...] = ()) -> str:
    """A config file with one account per user (password stored; a wrong one for *wrong*)."""
    path = tmp_path / "fleet.toml"
    text = ""
    for name, user in users.items():
        password = "wrong-password" if name in wrong else user.password
        text += (f'[accounts.{name}]\njid = "{user.jid}"\nserver = "127.0.0.1"\nport = {user.server.port}\n'
                 f'ca_file = "{user.server.ca_file}"\npassword = "{password}"\n')
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


class Counting:
    """A session that counts what it sends (roster sets/removes, presences) for the test."""

    def __init__(self, inner, sent: list):
        self._inner, self._sent = inner, sent

    def __getattr__(self, name):
        return getattr(self._inner, name)

    async def query(self, iq_type, payload=None, **kw):
        item = payload.find(f"{{{ROSTER_NS}}}item") if payload is not None and iq_type == "set" else None
        if item is not None:
            self._sent.append(("roster-remove" if item.get("subscription") == "remove" else "roster-set", item.get("jid")))
        return await self._inner.query(iq_type, payload, **kw)

    def send_subscription(self, to, kind, **kw):
        self._sent.append((kind, to))
        return self._inner.send_subscription(to, kind, **kw)

    def send_presence(self, **kw):
        self._sent.append(("presence", kw.get("to")))
        return self._inner.send_presence(**kw)


@pytest.fixture
def run_counting(cli):
    """run(*argv) -> (Result, sent): in-process, every real session wrapped in Counting."""
    from xmppctl.cli import main
    from xmppctl.cli.context import login

    def run(*args: str):
        sent: list = []

        @asynccontextmanager
        async def factory(st, **kwargs):
            async with login(st, **kwargs) as s:
                yield Counting(s, sent)

        return cli(list(args), session_factory=factory), sent

    return run


def _rosters(run_cli, config, names):
    r = run_cli(None, "--config", config, "--all-accounts", "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    out = {n: {} for n in names}
    for row in r.json():
        out[row["account"]][row["jid"]] = row
    return out


def test_fleet_roster_list_is_one_document_and_a_wrong_password_is_an_error_row(make_user, run_cli, tmp_path):
    users = {f"m{i}": make_user("fl") for i in range(3)}
    users["m0"].seed([Contact(users["m1"].jid, "One", ("G",))])
    config = _config(tmp_path, users, wrong=("m2",))
    r = run_cli(None, "--config", config, "-a", "m*", "roster", "list", "-o", "json")
    assert r.code == 7, r.stderr
    rows = r.json()
    assert rows[0] == {"account": "m0", "jid": users["m1"].jid, "name": "One", "subscription": "none",
                       "ask": False, "groups": ["G"]}
    assert rows[-1]["account"] == "m2" and rows[-1]["exit"] == 3 and rows[-1]["error"] == "auth"
    assert [row["account"] for row in rows] == ["m0", "m2"]
    r = run_cli(None, "--config", config, "-a", "m0", "-a", "m1", "roster", "list", "-o", "csv")
    assert r.code == 0, r.stderr
    assert r.stdout.splitlines()[0] == "account,jid,name,subscription,ask,groups"
    assert len(r.stdout.splitlines()) == 2


def _team_file(tmp_path, names, group="Ops") -> str:
    path = tmp_path / "team.toml"
    path.write_text(f'group = "{group}"\n' + "".join(f'[[member]]\naccount = "{n}"\nname = "Name {n}"\n' for n in names))
    return str(path)


def test_team_sync_converges_from_empty_rosters_and_a_second_run_sends_nothing(make_user, run_cli, run_counting, tmp_path):
    names = ["t0", "t1", "t2"]
    users = {n: make_user("tm") for n in names}
    config, team = _config(tmp_path, users), _team_file(tmp_path, names)
    r = run_cli(None, "--config", config, "team", "sync", team, "--dry-run", "--exit-code", "-o", "json")
    assert r.code == 10, r.stderr
    assert {(row["account"], row["action"]) for row in r.json()} == {(n, "add") for n in names}
    r, sent = run_counting("--config", config, "team", "sync", team, "-o", "json")
    assert r.code == 0, r.stderr
    assert [row["status"] for row in json.loads(r.stdout)] == ["converged"] * 3
    assert sum(1 for s in sent if s[0] == "roster-set") == 6
    rosters = _rosters(run_cli, config, names)
    for n in names:
        assert set(rosters[n]) == {users[o].jid for o in names if o != n}
        for o in names:
            if o != n:
                item = rosters[n][users[o].jid]
                assert (item["name"], item["groups"], item["subscription"], item["ask"]) == (f"Name {o}", ["Ops"], "both", False)
    r, sent = run_counting("--config", config, "team", "sync", team, "--exit-code", "-o", "json")
    assert r.code == 0, r.stderr
    assert sent == [], "a converged team sends no roster set and no presence"


def test_team_sync_with_a_wrong_password_converges_the_others_and_exits_7(make_user, run_cli, tmp_path):
    names = ["w0", "w1", "w2"]
    users = {n: make_user("tw") for n in names}
    users["w0"].seed([Contact("outsider@example.net", "Out", ("Other",))])
    config, team = _config(tmp_path, users, wrong=("w2",)), _team_file(tmp_path, names)
    r = run_cli(None, "--config", config, "team", "sync", team, "-o", "json")
    assert r.code == 7, r.stderr
    by = {row["account"]: row for row in r.json()}
    assert by["w2"]["status"] == "failed" and by["w2"]["error"] == "auth"
    assert by["w0"]["status"] == by["w1"]["status"] == "converged"
    good = {n: users[n] for n in ("w0", "w1")}
    rosters = _rosters(run_cli, _config(tmp_path, good), ["w0", "w1"])
    assert rosters["w0"][users["w1"].jid]["subscription"] == "both"
    assert rosters["w1"][users["w0"].jid]["subscription"] == "both"
    assert rosters["w0"]["outsider@example.net"]["groups"] == ["Other"], "contacts outside the team are not touched"


def test_team_sync_prune_takes_a_former_member_out_after_a_backup(make_user, run_cli, tmp_path):
    names = ["p0", "p1", "p2"]
    users = {n: make_user("tp") for n in names}
    users["p0"].seed([Contact(users["p2"].jid, "Kept", ("Ops", "Friends"))])
    config = _config(tmp_path, users)
    r = run_cli(None, "--config", config, "team", "sync", _team_file(tmp_path, names), "-o", "json")
    assert r.code == 0, r.stderr
    smaller = _team_file(tmp_path, ["p0", "p1"])
    r = run_cli(None, "--config", config, "team", "sync", smaller, "--prune", "-o", "json")
    assert r.code == 2 and "--yes" in r.stderr, "no terminal: --prune needs --yes, nothing sent"
    r = run_cli(None, "--config", config, "team", "sync", smaller, "--prune", "--yes", "-o", "json")
    assert r.code == 0, r.stderr
    assert "backup" in r.stderr and list(tmp_path.glob("*.toml")) != []
    rosters = _rosters(run_cli, config, names)
    assert users["p2"].jid not in rosters["p1"], "the team was the item's only group: removed"
    kept = rosters["p0"][users["p2"].jid]
    assert kept["groups"] == ["Friends"], "other groups are kept; only the team group goes"
    assert rosters["p0"][users["p1"].jid]["subscription"] == "both"


def test_fleet_import_prune_syncs_every_account_after_a_backup_each(make_user, run_cli, tmp_path):
    names = ["i0", "i1", "i2"]
    users = {n: make_user("fi") for n in names}
    for n in names:
        users[n].seed([Contact(f"old-{n}@example.net", "Old", ("Gone",)), Contact("keep@example.net", "K", ())])
    config = _config(tmp_path, users)
    file = tmp_path / "roster.toml"
    file.write_text('[[contact]]\njid = "keep@example.net"\nname = "Kept"\ngroups = ["G"]\n'
                    '[[contact]]\njid = "new@example.net"\nname = "New"\n')
    r = run_cli(None, "--config", config, "--all-accounts", "roster", "import", str(file), "--prune", "--yes", "-o", "json")
    assert r.code == 0, r.stderr
    assert sorted((row["account"], row["action"], row["jid"], row["ok"]) for row in r.json()) == sorted(
        (n, action, jid, True) for n in names
        for action, jid in (("add", "new@example.net"), ("update", "keep@example.net"), ("remove", f"old-{n}@example.net")))
    rosters = _rosters(run_cli, config, names)
    for n in names:
        assert {jid: (row["name"], row["groups"]) for jid, row in rosters[n].items()} == {
            "keep@example.net": ("Kept", ["G"]), "new@example.net": ("New", [])}
        backup = next(tmp_path.glob(f"roster-backup-{users[n].jid}-*.toml"))
        assert f"old-{n}@example.net" in backup.read_text()
        assert f"xmppctl: {n}: backup of the current roster (2 contacts) written to {backup}" in r.stderr


def test_fleet_export_writes_a_file_per_account_that_diff_then_finds_in_sync(make_user, run_cli, tmp_path):
    users = {n: make_user("fe") for n in ("e0", "e1")}
    users["e0"].seed([Contact("a@example.net", "A", ("G",))])
    users["e1"].seed([Contact("b@example.net", "B", ())])
    config = _config(tmp_path, users)
    r = run_cli(None, "--config", config, "-a", "e*", "roster", "export", "--file", str(tmp_path / "{account}.json"))
    assert r.code == 0, r.stderr
    assert r.stdout == "" and "xmppctl: e1: exported 1 contact(s)" in r.stderr
    exported = json.loads((tmp_path / "e0.json").read_text())
    assert [(c["jid"], c["name"], c["groups"]) for c in exported] == [("a@example.net", "A", ["G"])]
    r = run_cli(None, "--config", config, "-a", "e*", "roster", "diff", str(tmp_path / "e0.json"), "--exit-code", "-o", "json")
    assert r.code == 10, r.stderr
    assert [(row["account"], row["action"], row["jid"]) for row in r.json()] == [
        ("e1", "add", "a@example.net"), ("e1", "extra", "b@example.net")], "e0 matches its own export"


def test_fleet_sub_approve_answers_each_accounts_request_and_leaves_stored_messages_stored(make_user, run_cli, tmp_path):
    approvers = {f"a{i}": make_user("fa") for i in range(2)}
    requesters = [make_user("fr") for _ in range(2)]
    sender = make_user("fs")
    for (name, user), requester in zip(approvers.items(), requesters):
        send_messages(sender, user.jid, [f"stored for {name}"])
        send_subscribe(requester, user.jid)
    config = _config(tmp_path, approvers)
    r = run_cli(None, "--config", config, "-a", "a*", "sub", "approve", "--all", "-o", "json")
    assert r.code == 0, r.stderr
    assert [(row["account"], row["jid"], row["status"], row["subscription"]) for row in r.json()] == [
        ("a0", requesters[0].jid, "sent", "from"), ("a1", requesters[1].jid, "sent", "from")]
    assert "reached this session" not in r.stderr, r.stderr
    for name, user in approvers.items():
        assert [m["body"] for m in receive_stored(user, expect=1)] == [f"stored for {name}"]


def test_fleet_presence_set_hold_is_seen_by_a_fleet_probe_and_ends_with_unavailable(make_user, run_cli, tmp_path,
                                                                                    held, monkeypatch):
    from types import SimpleNamespace

    users = {name: make_user("fp") for name in ("w0", "w1", "b0", "b1")}
    befriend(users["w0"], users["b0"])
    befriend(users["w1"], users["b1"])
    config = _config(tmp_path, users)
    for name, user in users.items():  # the held process reads each account's own variable
        monkeypatch.setenv(f"XMPPCTL_PASSWORD_{name.upper()}", user.password)
    h = held(SimpleNamespace(args=["--config", config], password=None), "-a", "b*", "presence", "set",
             "--show", "away", "--hold", "forever", "-o", "ndjson", ready=False)
    assert sorted(h.line()["account"] for _ in range(2)) == ["b0", "b1"], "a row per account once all are up"
    r = run_cli(None, "--config", config, "-a", "w*", "presence", "probe", "--expect-online", "-o", "json")
    assert r.code == 0, r.stderr
    assert [(row["account"], row["jid"], row["state"], row["show"]) for row in r.json()] == [
        ("w0", users["b0"].jid, "online", "away"), ("w1", users["b1"].jid, "online", "away")]
    assert h.stop() == 0
    r = run_cli(None, "--config", config, "-a", "w*", "presence", "probe", "--expect-online", "-o", "json")
    assert r.code == 10, r.stderr
    assert [(row["account"], row["state"]) for row in r.json()] == [("w0", "offline"), ("w1", "offline")]
