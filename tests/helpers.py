"""Helpers shared by the tests (imported, unlike conftest fixtures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from xmppctl.devserver import Contact


@dataclass
class User:
    server: object
    name: str
    password: str

    @property
    def jid(self) -> str:
        return f"{self.name}@{self.server.domain}"

    @property
    def args(self) -> list[str]:
        """Global options that log in as this user on the test server."""
        return ["--jid", self.jid, "--server", "127.0.0.1", "--port", str(self.server.port),
                "--ca-file", str(self.server.ca_file)]

    def seed(self, contacts: list[Contact], pending_in: list[str] = ()) -> None:
        self.server.seed_roster(self.name, contacts, pending_in)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    elapsed: float = 0.0

    def json(self):
        return json.loads(self.stdout)

    def error(self) -> dict:
        return json.loads(self.stderr.strip().splitlines()[-1])


def run_subprocess(user: User | None, *args: str, env: dict | None = None, timeout: float = 60,
                   stdin: str | None = None) -> Result:
    """Run the installed console script in a child process (for timing, signals, real stdio)."""
    full_env = dict(os.environ)
    if user is not None:
        full_env["XMPPCTL_PASSWORD"] = user.password
    full_env.update(env or {})
    argv = [sys.executable, "-m", "xmppctl"] + (user.args if user is not None else []) + list(args)
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, input=stdin)
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


def roster_by_jid(run_cli, user: User) -> dict[str, dict]:
    """*user*'s roster as ``roster list -o json`` shows it, keyed by JID: what a command left behind."""
    r = run_cli(user, "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    return {item["jid"]: item for item in r.json()}
