"""What both throwaway servers and the tests share: a free loopback port, readiness, seed data."""

from __future__ import annotations

import shutil
import socket
import time
from dataclasses import dataclass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
