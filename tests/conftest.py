"""Shared fixtures: real servers per test session, fresh accounts per test, a CLI runner.

Each server is started once (Prosody needs ~1.5 s to stop, ejabberd ~1.5 s to start); every
test registers its own accounts so tests never see each other's rosters.  ``xmpp_server`` is
parametrized over Prosody and ejabberd, so every test that uses it (or ``make_user``) runs on
both; ``XMPPCTL_TEST_SERVERS=prosody`` (comma-separated kinds) limits a quick local run.  A
test that depends on one server's behaviour says so with
``@pytest.mark.server_only("prosody", reason="...")``.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from tests.support.helpers import InProcessCLI, Result, User
from tests.support import EjabberdServer, ProsodyServer, have

_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    """No test reads the developer's own config, cache, keyring or environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # roster cache for completion
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))  # messages kept by xmppctl.xmpp.keeper
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg-run"))  # account locks (xmppctl.locks)
    for var in ("XMPPCTL_CONFIG", "XMPPCTL_ACCOUNT", "XMPPCTL_JID", "XMPPCTL_PASSWORD", "XMPPCTL_SERVER",
                "XMPPCTL_PORT", "XMPPCTL_TLS", "XMPPCTL_TIMEOUT", "XMPPCTL_CA_FILE"):
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith("XMPPCTL_PASSWORD_")]:  # per-account passwords
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


@pytest.fixture(scope="session")
def ejabberd():
    if "ejabberd" not in _selected_kinds():
        pytest.skip("ejabberd: not in XMPPCTL_TEST_SERVERS")
    if not have("ejabberdctl"):
        pytest.fail("ejabberd is not installed: run the README's test command (scripts/test), which installs it")
    # Not under pytest's tmp dir: ejabberdctl runs the node as the 'ejabberd' user, which cannot
    # enter root's 0700 pytest-of-root directory.
    directory = tempfile.mkdtemp(prefix="xmppctl-ejabberd-")
    server = EjabberdServer(Path(directory))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


SERVER_KINDS = ("prosody", "ejabberd")

_NO_OFFLINE_PROBE_ANSWER = ("ejabberd 23.01 sends no presence in answer to the probe for an offline contact "
                            "(even one mod_last knows): probe falls back to XEP-0012, but these watch tests use the "
                            "probe answer as their 'watch is connected' signal")
#: Tests written against Prosody's behaviour that differ on ejabberd (real server differences,
#: see tests/integration/test_interop.py).  Kept here, not as marks in the test files, while
#: their owners work on them; each entry says what differs.
SERVER_DIFFERENCES: dict[str, tuple[str, str]] = {
    "test_presence.py::test_watch_sees_a_subscribed_contacts_presence_set": ("prosody", _NO_OFFLINE_PROBE_ANSWER),
    # hangs on ejabberd: its watches wait for a probe answer / a redelivered request (priority < 0)
    "test_presence.py::test_directed_presence_is_seen_only_by_its_target": ("prosody", _NO_OFFLINE_PROBE_ANSWER),
    "test_presence.py::test_watch_marks_subscription_requests": (
        "prosody", "ejabberd redelivers pending subscription requests only to an initial presence with "
                   "priority >= 0; watch uses a negative priority by default (docs/protocol-notes.md, "
                   "'Probes and pending requests per server')"),
}


def pytest_configure(config):
    config.addinivalue_line("markers", "server_only(kind, reason): run the test on that server kind only")
    # A SIGTERM (timeout(1), CI cancelling) must still run fixture teardown, or the servers,
    # started in sessions of their own, outlive the run.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _selected_kinds() -> list[str]:
    wanted = os.environ.get("XMPPCTL_TEST_SERVERS")
    if not wanted:
        return list(SERVER_KINDS)
    kinds = [k.strip() for k in wanted.split(",") if k.strip()]
    unknown = set(kinds) - set(SERVER_KINDS)
    if unknown:
        raise pytest.UsageError(f"XMPPCTL_TEST_SERVERS: unknown server kinds {sorted(unknown)}")
    return kinds


@pytest.fixture(params=_selected_kinds())
def xmpp_server(request):
    """The server an integration test runs against: Prosody and ejabberd in turn."""
    marker = request.node.get_closest_marker("server_only")
    if marker is not None and request.param not in marker.args:
        pytest.skip(f"{request.param}: {marker.kwargs.get('reason', 'server-specific test')}")
    key = f"{request.node.path.name}::{request.node.originalname}"
    if key in SERVER_DIFFERENCES and request.param != SERVER_DIFFERENCES[key][0]:
        pytest.skip(f"{request.param}: {SERVER_DIFFERENCES[key][1]}")
    return request.getfixturevalue(request.param)


class AccountPool:
    """Fresh accounts registered ahead, in batches, and handed out one per ``make_user``.

    Registering one account costs ejabberd ~0.5-0.9 s (an ``ejabberdctl`` process) but a
    batch costs one RPC; a Prosody account is one small file written directly, one at a time.
    Batches are per name prefix (tests match JIDs by prefix) and grow with use, so a prefix
    used once wastes little.  An account handed out has never been logged in to.
    """

    def __init__(self, server, min_batch: int, max_batch: int):
        self.server = server
        self.min_batch, self.max_batch = min_batch, max_batch
        self.free: dict[str, list[tuple[str, str]]] = {}
        self.taken: dict[str, int] = {}

    def take(self, prefix: str) -> tuple[str, str]:
        free = self.free.setdefault(prefix, [])
        if not free:
            size = min(self.max_batch, max(self.min_batch, self.taken.get(prefix, 0)))
            batch = [(f"{prefix}{next(_counter)}x{secrets.token_hex(3)}", secrets.token_urlsafe(12)) for _ in range(size)]
            self.server.register_many(batch)
            free.extend(reversed(batch))
        self.taken[prefix] = self.taken.get(prefix, 0) + 1
        return free.pop()


@pytest.fixture(scope="session")
def account_pools() -> dict[str, AccountPool]:
    return {}


@pytest.fixture
def make_user(xmpp_server, account_pools):
    pool = account_pools.get(xmpp_server.kind)
    if pool is None:
        batches = (4, 32) if xmpp_server.kind == "ejabberd" else (1, 1)
        pool = account_pools[xmpp_server.kind] = AccountPool(xmpp_server, *batches)

    def make(prefix: str = "u") -> User:
        name, password = pool.take(prefix)
        return User(xmpp_server, name, password)

    return make


@pytest.fixture
def cli(monkeypatch, capsys) -> InProcessCLI:
    """xmppctl in-process: cli(argv, session_factory=..., stdin=..., tty=..., env=...) -> Result."""
    return InProcessCLI(monkeypatch, capsys)


@pytest.fixture
def run_cli(cli):
    """Run xmppctl in-process as a test server's user: run_cli(user, 'roster', 'list', '-o', 'json') -> Result."""

    def run(user: User | None, *args: str, stdin: str | None = None, env: dict | None = None) -> Result:
        env = dict(env or {})
        if user is not None:
            env = {"XMPPCTL_PASSWORD": user.password, **env}
        return cli((user.args if user is not None else []) + list(args), stdin=stdin or "", env=env)

    return run
