"""Locks that keep overlapping runs (cron jobs, a long --hold) from undoing each other's work.

Two kinds, both ``flock(2)`` on a lock file (released by the kernel when the process ends, so
a killed run leaves no stale lock):

- the config lock, ``<config>.lock`` beside the config file, held by ``account add/set/remove``
  from reading the file to renaming the new one into place: concurrent changes queue up;
- the account lock, one file per bare JID in the user's runtime directory
  (``$XDG_RUNTIME_DIR/xmppctl``, else ``$XDG_STATE_HOME/xmppctl`` or ``~/.local/state/xmppctl``),
  held by every command that changes that account's roster or subscriptions, from before it
  reads the roster until its session is closed.  A second run waits up to ``--lock-wait``
  seconds and otherwise fails with :class:`AccountLocked` naming the holder, whose PID and
  command line are written into the lock file.  Read-only commands never take it.

Library module: raises, never prints.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import quote

from .errors import XmppctlError

#: how often a waiting run tries the account lock again
POLL_S = 0.05


class AccountLocked(XmppctlError):
    """Another run holds the account lock (exit 1, "failure": nothing was sent).

    Exit 1 rather than a code of its own: nothing happened, and the next scheduled run does
    the work; a wrapper that must tell this case apart reads ``"reason": "locked"`` in the JSON
    error (-o json) or the message.
    """

    def to_json(self) -> dict:
        return {**super().to_json(), "reason": "locked"}


def lock_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where account locks live: per user, never shared with other users."""
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / "xmppctl"
    state = env.get("XDG_STATE_HOME")
    base = Path(state) if state and os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "xmppctl" / "locks"


def lock_file_name(bare_jid: str) -> str:
    """A file name for *bare_jid*: percent-encoded (no '/', no leading '.'), a hash when long."""
    encoded = quote(bare_jid, safe="@-_")
    if len(encoded) > 200:
        encoded = hashlib.sha256(bare_jid.encode("utf-8", "surrogatepass")).hexdigest()
    return f"account-{encoded}.lock"


def _open_lock(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


@contextmanager
def config_lock(config_path: Path) -> Iterator[None]:
    """Hold ``<config>.lock`` (waiting for it) while the config is read, changed and replaced."""
    fd = _open_lock(config_path.with_name(config_path.name + ".lock"))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        text = ""
    pid, _, command = text.partition("\n")
    if not pid.strip():
        return "another xmppctl run"
    return f"PID {pid.strip()} ({command.strip()})" if command.strip() else f"PID {pid.strip()}"


def _describe_self() -> bytes:
    command = " ".join(sys.argv) if sys.argv else "xmppctl"
    # one line each; a command line is local text, but keep the file to two lines
    command = command.replace("\n", " ").replace("\r", " ")[:1000]
    return f"{os.getpid()}\n{command}\n".encode("utf-8", "replace")


@asynccontextmanager
async def account_lock(bare_jid: str, wait: float = 0.0, *, directory: Path | None = None) -> AsyncIterator[Path]:
    """Hold the account lock of *bare_jid*, waiting up to *wait* seconds (0: fail at once).

    The event loop keeps running while this waits (other accounts of a fleet go on).
    Raises :class:`AccountLocked` naming the holder when the lock stays taken.
    """
    path = (directory or lock_dir()) / lock_file_name(bare_jid)
    try:
        fd = _open_lock(path)
    except OSError as exc:
        raise XmppctlError(f"{bare_jid}: cannot open the account lock {path}: {exc.strerror or exc}") from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    waited = f" after waiting {wait:g} s" if wait > 0 else ""
                    raise AccountLocked(
                        f"{bare_jid}: another run is changing this account: {_holder(fd)} holds {path}{waited}; "
                        "nothing was sent (--lock-wait SECONDS to wait for it)",
                        details={"account": bare_jid, "lock": str(path), "holder": _holder(fd)}) from None
                await asyncio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.pwrite(fd, _describe_self(), 0)
        try:
            yield path
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
    finally:
        os.close(fd)
