"""Password sources in a fleet run against a real server: each account its own, and a slow one
delays nobody else."""

from __future__ import annotations

import pytest

from tests.support.helpers import process_gone


@pytest.mark.server_only("prosody", reason="password sources are read before the first stanza: the server plays no part")
def test_a_hanging_password_command_fails_only_its_own_account(make_user, run_cli, tmp_path):
    fast, slow = make_user("fast"), make_user("slow")
    pidfile = tmp_path / "helper.pid"
    hang = f"sleep 60 & echo $! > {pidfile}; wait"
    config = tmp_path / "fleet.toml"
    common = f'server = "127.0.0.1"\nport = {fast.server.port}\nca_file = "{fast.server.ca_file}"\n'
    config.write_text(f'[accounts.fast]\njid = "{fast.jid}"\n{common}'
                      f'[accounts.slow]\njid = "{slow.jid}"\n{common}password_command = ["sh", "-c", "{hang}"]\n')
    config.chmod(0o600)
    # fast's password is its own variable; the shared XMPPCTL_PASSWORD would be refused
    r = run_cli(None, "--config", str(config), "--timeout", "3", "--all-accounts", "roster", "list", "-o", "json",
                env={"XMPPCTL_PASSWORD_FAST": fast.password})
    assert r.elapsed < 40  # the deadline, not the command's 60 s
    assert r.code == 7, r.stderr
    rows = {row["account"]: row for row in r.json() if "error" in row}
    assert list(rows) == ["slow"] and rows["slow"]["exit"] == 5
    assert rows["slow"]["message"].startswith("password_command of account 'slow': sh did not finish within 3 s")
    assert "sleep" not in r.stdout + r.stderr  # the command's arguments are never echoed
    assert process_gone(int(pidfile.read_text())), "the password command's child survived the timeout"
