"""docs/api.md: its example runs as written against a real server."""

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


def example_code() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert len(blocks) == 1, "docs/api.md should hold exactly one Python example"
    return blocks[0]


def test_api_doc_example_runs(make_user, run_cli, tmp_path):
    user = make_user()
    domain = user.jid.partition("@")[2]
    config = tmp_path / "config.toml"
    config.write_text(f'[accounts.work]\njid = "{user.jid}"\nserver = "127.0.0.1"\n'
                      f'port = {user.server.port}\nca_file = "{user.server.ca_file}"\n')
    script = tmp_path / "example.py"
    script.write_text(example_code().replace("example.org", domain))
    env = {k: v for k, v in os.environ.items() if not k.startswith("XMPPCTL_")}
    env.update(XMPPCTL_CONFIG=str(config), XMPPCTL_PASSWORD=user.password, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
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
