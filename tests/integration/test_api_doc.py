"""docs/api.md: its examples run as written against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"


def example_code(index: int) -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert len(blocks) == 3, "docs/api.md should hold three Python examples: the roster, one job, team sync"
    return blocks[index]


def run_example(code: str, tmp_path: Path, config: Path, **passwords: str) -> subprocess.CompletedProcess:
    """*code* as a script, with XMPPCTL_CONFIG and the given XMPPCTL_PASSWORD* variables."""
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XMPPCTL_")}
    env.update(XMPPCTL_CONFIG=str(config), PYTHONPATH=str(ROOT), **passwords)
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)


def test_api_doc_example_runs(make_user, run_cli, tmp_path):
    user = make_user()
    domain = user.jid.partition("@")[2]
    config = tmp_path / "config.toml"
    config.write_text(f'[accounts.work]\njid = "{user.jid}"\nserver = "127.0.0.1"\n'
                      f'port = {user.server.port}\nca_file = "{user.server.ca_file}"\n')
    proc = run_example(example_code(0).replace("example.org", domain), tmp_path, config, XMPPCTL_PASSWORD=user.password)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "planned {'add': 2, 'update': 0, 'remove': 0, 'unchanged': 0}",
        "applied {'add': 2, 'update': 0, 'remove': 0, 'failed': 0}",
        f"presence bob@{domain} no-subscription",
        f"presence carol@{domain} no-subscription",
    ]
    roster = {item["jid"]: item for item in run_cli(user, "roster", "list", "-o", "json").json()}
    assert roster[f"bob@{domain}"]["groups"] == ["Friends"] and roster[f"bob@{domain}"]["ask"] is True
    assert roster[f"carol@{domain}"]["groups"] == ["Friends", "Work"]


def test_api_doc_team_sync_example_runs(make_user, run_cli, tmp_path):
    users = {"work": make_user("apiw"), "home": make_user("apih")}
    config = tmp_path / "config.toml"
    config.write_text("".join(f'[accounts.{name}]\njid = "{u.jid}"\nserver = "127.0.0.1"\nport = {u.server.port}\n'
                              f'ca_file = "{u.server.ca_file}"\n' for name, u in users.items()))
    proc = run_example(example_code(2), tmp_path, config, XMPPCTL_PASSWORD_WORK=users["work"].password,
                       XMPPCTL_PASSWORD_HOME=users["home"].password)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["work roster sets: 1 error: None", "home roster sets: 1 error: None",
                                        "converged: True"]
    assert proc.stderr == "", "the members' requests to each other are expected, not reported"
    for me, other, name in (("work", "home", "Me at home"), ("home", "work", "Me at work")):
        [item] = run_cli(users[me], "roster", "list", "-o", "json").json()
        assert (item["jid"], item["name"], item["groups"], item["subscription"]) == (users[other].jid, name, ["Me"], "both")


def test_api_doc_one_job_example_runs_for_one_account_and_several(make_user, run_cli, tmp_path):
    users = {"work": make_user("jobw"), "home": make_user("jobh")}
    assert run_cli(users["work"], "roster", "add", users["home"].jid).code == 0
    config = tmp_path / "config.toml"
    config.write_text("".join(f'[accounts.{name}]\njid = "{u.jid}"\nserver = "127.0.0.1"\nport = {u.server.port}\n'
                              f'ca_file = "{u.server.ca_file}"\n' for name, u in users.items()))
    code = example_code(1)
    proc = run_example(code, tmp_path, config, XMPPCTL_PASSWORD_WORK=users["work"].password,
                       XMPPCTL_PASSWORD_HOME=users["home"].password)
    assert proc.returncode == 0, proc.stderr
    row = f"work {users['home'].jid} none"
    assert proc.stdout.splitlines() == [row, "exit 0", row, "exit 0"]
    # one account's password wrong: the other's rows, its error, the one exit rule's 7
    proc = run_example(code, tmp_path, config, XMPPCTL_PASSWORD_WORK=users["work"].password,
                       XMPPCTL_PASSWORD_HOME="wrong")
    assert proc.stdout.splitlines() == [row, "exit 0", row, "exit 7"], proc.stderr
    assert "home:" in proc.stderr and "exit 3" in proc.stderr
