"""Several accounts in one run never share XMPPCTL_PASSWORD or XMPPCTL_JID: refused before any
session opens (fake sessions: nothing here reaches a server)."""

from __future__ import annotations

import pytest

from tests.cli.test_fleet_cli import fleet  # noqa: F401  (a fixture)


@pytest.mark.parametrize("var", ["XMPPCTL_PASSWORD", "XMPPCTL_JID"])
@pytest.mark.parametrize("selection", [("--all-accounts",), ("-a", "bot-*"), ("-a", "bot-a", "-a", "home")],
                         ids=["all-accounts", "glob", "repeated"])
def test_shared_variable_with_several_accounts_exits_2_before_any_login(fleet, monkeypatch, var, selection):  # noqa: F811
    monkeypatch.setenv(var, "alice-secret" if var == "XMPPCTL_PASSWORD" else "alice@example.org")
    r = fleet(*selection, "roster", "list", "-o", "json")
    assert r.code == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and f"{var} is set" in r.stderr
    assert "alice-secret" not in r.stderr
    assert fleet.seen == []  # no session was opened
    assert r.stdout == ""


def test_team_sync_refuses_the_shared_password_variable(fleet, monkeypatch, tmp_path):  # noqa: F811
    team = tmp_path / "team.toml"
    team.write_text('group = "Ops"\n[[member]]\naccount = "bot-a"\n[[member]]\naccount = "bot-b"\n')
    monkeypatch.setenv("XMPPCTL_PASSWORD", "alice-secret")
    r = fleet("team", "sync", str(team), "--dry-run")
    assert r.code == 2 and "XMPPCTL_PASSWORD is set and team sync logs in as 2 accounts" in r.stderr
    assert fleet.seen == []


def test_one_account_still_takes_the_shared_variable(fleet, monkeypatch):  # noqa: F811
    monkeypatch.setenv("XMPPCTL_PASSWORD", "alice-secret")
    r = fleet("-a", "home", "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert fleet.seen == ["home"]
