"""Where passwords come from: ``account add --store-password`` and ``--password-stdin`` on a tty."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
import types

import pytest

from tests.support import free_port

KEYRING_SECRET = "keyring-secret-Jx7"


@pytest.fixture
def keyring_with_a_secret(monkeypatch):
    """The optional ``keyring`` module, holding a password for every account."""
    module = types.ModuleType("keyring")
    module.get_password = lambda service, user: KEYRING_SECRET
    monkeypatch.setitem(sys.modules, "keyring", module)


def test_store_password_never_copies_the_keyring_secret_into_the_file(run_cli, tmp_path, keyring_with_a_secret):
    cfg = tmp_path / "c.toml"
    r = run_cli(None, "--config", str(cfg), "account", "add", "w", "--jid", "a@b.org", "--store-password")
    assert r.code == 2, r.stderr
    assert "--password-stdin or XMPPCTL_PASSWORD" in r.stderr
    assert not cfg.exists() or KEYRING_SECRET not in cfg.read_text()


def test_store_password_takes_the_environment_over_the_keyring(run_cli, tmp_path, keyring_with_a_secret):
    cfg = tmp_path / "c.toml"
    r = run_cli(None, "--config", str(cfg), "account", "add", "w", "--jid", "a@b.org", "--store-password",
                env={"XMPPCTL_PASSWORD": "from-env-1"})
    assert r.code == 0, r.stderr
    text = cfg.read_text()
    assert 'password = "from-env-1"' in text and KEYRING_SECRET not in text


def _read_until(fd: int, wanted: bytes, seen: bytearray, limit: float = 15) -> bool:
    """Read the pty until *wanted* shows up (True) or the child is gone / *limit* passes (False)."""
    deadline = time.monotonic() + limit
    while wanted not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        seen += chunk
    return True


def test_password_stdin_on_a_terminal_prompts_without_echo():
    # Nothing listens on the port: once the password is read, the command fails with exit 4.
    argv = [sys.executable, "-m", "xmppctl", "--jid", "a@localhost", "--server", "127.0.0.1",
            "--port", str(free_port()), "--password-stdin", "roster", "list"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal and its stdin
        os.execv(sys.executable, argv)
    seen = bytearray()
    try:
        prompted = _read_until(fd, b"Password for a@localhost:", seen)
        os.write(fd, b"tty-secret-Q4\n")
        _read_until(fd, b"\x00never\x00", seen)  # everything until the child exits
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert prompted, f"no password prompt on the terminal: {bytes(seen)!r}"
    assert b"tty-secret-Q4" not in seen, "the password was echoed"
    assert os.waitstatus_to_exitcode(status) == 4, bytes(seen)
