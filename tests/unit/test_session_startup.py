"""What a session costs before its first byte: the system CA store loaded once, no pygments."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest

from xmppctl.config import Account
from xmppctl.errors import XmppctlError
from xmppctl.xmpp import session as session_module
from xmppctl.xmpp.session import open_session


def NO_STRAYS_EXPECTED(xml) -> bool:  # noqa: N802 - no message reaches these sessions; none is kept
    return False



@pytest.fixture
def store_loads(monkeypatch):
    """Calls that load a CA store, by kind: 'system' (set_default_verify_paths) and 'file'."""
    loads: list[str] = []
    system, files = ssl.SSLContext.set_default_verify_paths, ssl.SSLContext.load_verify_locations

    def count_system(self):
        loads.append("system")
        return system(self)

    def count_file(self, *args, **kwargs):
        loads.append("file")
        return files(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "set_default_verify_paths", count_system)
    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", count_file)
    monkeypatch.setattr(session_module, "_TLS_CONTEXTS", {})  # as in a fresh process
    return loads


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _try_login(account: Account) -> None:
    """Build the session's client and let the connection be refused (nothing listens)."""

    async def go() -> None:
        async with open_session(account, "secret", keeper=NO_STRAYS_EXPECTED):
            pass

    with pytest.raises(XmppctlError):
        asyncio.run(go())


def _account(**kwargs) -> Account:
    return Account(jid="me@example.org", server="127.0.0.1", port=_closed_port(), timeout=5, **kwargs)


def test_system_store_is_loaded_once_per_process(store_loads):
    _try_login(_account())
    _try_login(_account())  # a second session (fleet mode) reuses the context
    assert store_loads == ["system"]


def test_ca_file_replaces_the_system_store_and_is_loaded_once(store_loads, tmp_path):
    # --ca-file pins (as curl --cacert does): the system store is not loaded at all
    cafile = ssl.get_default_verify_paths().cafile
    if not cafile:
        pytest.skip("no system CA bundle file to use as --ca-file")
    _try_login(_account(ca_file=cafile))
    _try_login(_account(ca_file=cafile))
    assert store_loads == ["file"]


def test_insecure_loads_no_store(store_loads):
    _try_login(_account(insecure=True))
    assert store_loads == []


def test_building_a_client_does_not_import_pygments():
    # slixmpp builds a pygments highlighter at import time for its own test helpers (~20 ms)
    import subprocess
    import sys

    code = ("import sys; from xmppctl.config import Account; from xmppctl.xmpp.session import _make_client; "
            "_make_client(Account(jid='me@example.org'), 'pw'); print('slixmpp' in sys.modules, 'pygments' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["True", "False"], proc.stderr
