"""What both throwaway servers and the tests share: a free loopback port, readiness, seed data."""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


#: port -> descriptor of its reservation file, held (flock) until this process ends
_RESERVED: dict[int, int] = {}
#: where every test process on this machine reserves the ports it hands out
PORT_DIR = Path(tempfile.gettempdir()) / "xmppctl-test-ports"
#: ports handed out lie below the kernel's ephemeral range, from here up
_LOWEST = 20000
#: not the random module's generator: a test plugin may seed that one alike in every worker
_random = random.SystemRandom()


def free_port() -> int:
    """A loopback TCP port that nothing listens on and no other test process will take.

    A port from ``bind(0)`` is only free at that moment: a server started later binds it
    after a delay, and meanwhile parallel workers (bind(0) too) and every outgoing connection
    (its local port) may take it: ejabberd then died with ``eaddrinuse``.  So ports come from
    below the ephemeral range (where the kernel never puts an outgoing connection), each one
    is reserved with an flock on a file in PORT_DIR for the rest of this process's life (other
    test processes skip it; a dead process releases it), and is checked free by binding it.
    """
    low, high = _LOWEST, _ephemeral_low() - 1
    for _ in range(500):
        port = _random.randint(low, high) if high - low > 1000 else _kernel_port()
        if port in _RESERVED or not _reserve(port):
            continue
        if _bindable(port):
            return port
        os.close(_RESERVED.pop(port))
    raise RuntimeError(f"no free loopback port in {low}..{high} after 500 tries")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _kernel_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reserve(port: int) -> bool:
    if not PORT_DIR.is_dir():
        PORT_DIR.mkdir(exist_ok=True)
        try:
            PORT_DIR.chmod(0o1777)  # shared by every user's test runs, like /tmp
        except OSError:
            pass
    fd = os.open(PORT_DIR / str(port), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _RESERVED[port] = fd
    return True


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def have(program: str) -> bool:
    return shutil.which(program) is not None


def wait_for_xmpp(port: int, domain: str, deadline_s: float, proc: subprocess.Popen | None = None) -> None:
    """Until 127.0.0.1:port answers an XMPP stream header (stricter than an open port)."""
    end = time.monotonic() + deadline_s
    header = (f"<?xml version='1.0'?><stream:stream to='{domain}' xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>").encode()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(header)
                data = b""
                s.settimeout(1)
                while b"<stream:stream" not in data and len(data) < 4096:
                    chunk = s.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                if b"<stream:stream" in data:
                    return
        except OSError:
            pass
        if time.monotonic() > end:
            raise RuntimeError(f"no XMPP stream on 127.0.0.1:{port} after {deadline_s} s")
        time.sleep(0.02)


@dataclass
class Contact:
    """A roster entry to seed (written straight into the server's storage)."""

    jid: str
    name: str | None = None
    groups: tuple[str, ...] = ()
    subscription: str = "none"
    ask: bool = False
