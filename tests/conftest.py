"""Shared fixtures: a real Prosody per test session, fresh accounts per test, a CLI runner.

The server is started once (Prosody needs ~1.5 s to stop); every test registers its own
accounts so tests never see each other's rosters.
"""

from __future__ import annotations

import io
import itertools
import secrets
import sys
import time

import pytest

from tests.helpers import Result, User
from xmppctl.devserver import ProsodyServer, have

_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    """No test reads the developer's own config, cache, keyring or environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # roster cache for completion
    for var in ("XMPPCTL_CONFIG", "XMPPCTL_ACCOUNT", "XMPPCTL_JID", "XMPPCTL_PASSWORD", "XMPPCTL_SERVER",
                "XMPPCTL_PORT", "XMPPCTL_TLS", "XMPPCTL_TIMEOUT", "XMPPCTL_CA_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


@pytest.fixture(scope="session")
def prosody(tmp_path_factory):
    if not have("prosody"):
        pytest.fail("prosody is not installed: run the README's test command (scripts/test), which installs it")
    server = ProsodyServer(tmp_path_factory.mktemp("prosody"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def xmpp_server(prosody):
    """The server the integration tests run against (Prosody; interop tests parametrize it)."""
    return prosody


@pytest.fixture
def make_user(xmpp_server):
    def make(prefix: str = "u") -> User:
        name = f"{prefix}{next(_counter)}x{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12)
        xmpp_server.register(name, password)
        return User(xmpp_server, name, password)

    return make


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run xmppctl in-process: run_cli(user, 'roster', 'list', '-o', 'json') -> Result."""
    from xmppctl.cli import main

    def run(user: User | None, *args: str, stdin: str | None = None, env: dict | None = None) -> Result:
        if user is not None:
            monkeypatch.setenv("XMPPCTL_PASSWORD", user.password)
        for key, value in (env or {}).items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        argv = (user.args if user is not None else []) + list(args)
        capsys.readouterr()
        t0 = time.monotonic()
        code = main(argv)
        elapsed = time.monotonic() - t0
        out, err = capsys.readouterr()
        return Result(code, out, err, elapsed)

    return run
