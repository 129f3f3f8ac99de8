"""Password sources in the CLI: several accounts never share XMPPCTL_PASSWORD or XMPPCTL_JID
(refused before any session opens; fake sessions), and a hanging password_command ends with the run."""

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


def test_sigterm_while_a_password_command_hangs_ends_the_run_and_the_command(tmp_path):
    """The password is awaited inside the event loop: a signal ends the run at once (exit 130),
    and the command's whole process group goes with it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.support.helpers import process_gone

    pidfile = tmp_path / "helper.pid"
    config = tmp_path / "config.toml"
    config.write_text('[accounts.slow]\njid = "slow@example.org"\nserver = "127.0.0.1"\n'
                      f'password_command = ["sh", "-c", "sleep 60 & echo $! > {pidfile}; wait"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("XMPPCTL_")}
    proc = subprocess.Popen([sys.executable, "-m", "xmppctl", "--config", str(config), "--timeout", "60",
                             "roster", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)  # far below the command's 60 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "xmppctl: interrupted by SIGTERM"
    assert process_gone(int(pidfile.read_text())), "the password command's child survived the signal"


def test_each_fleet_login_reports_received_messages_under_its_account_name(tmp_path, monkeypatch, run_cli):
    """login() hands each account's session a keeper labelled with the account's name in a
    fleet run (reports then lead with it), and none for a single account."""
    from contextlib import asynccontextmanager

    from tests.support.fakes import FakeSession
    from xmppctl.xmpp import session as session_mod

    labels: dict[str, object] = {}

    @asynccontextmanager
    async def fake_open(account, password, *, keeper=None, **kwargs):
        labels[account.jid] = keeper.label
        yield FakeSession(bare_jid=account.jid)

    monkeypatch.setattr(session_mod, "open_session", fake_open)
    config = tmp_path / "config.toml"
    config.write_text("".join(f'[accounts.{n}]\njid = "{n}@example.org"\npassword = "pw-{n}"\n' for n in ("a1", "a2")))
    config.chmod(0o600)
    r = run_cli(None, "--config", str(config), "--all-accounts", "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert labels == {"a1@example.org": "a1", "a2@example.org": "a2"}
    labels.clear()
    r = run_cli(None, "--config", str(config), "-a", "a1", "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert labels == {"a1@example.org": None}
