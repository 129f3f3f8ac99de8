"""What the scenarios run in a private network namespace share (tests/support/*_scenario.py).

A scenario runs as ``unshare -m -n PYTHON SCRIPT ...`` (root): :func:`isolate` brings loopback
up and points this namespace's resolver at 127.0.0.1, where :func:`serve_zone` answers from a
:class:`Zone` (dnslib).  :func:`why_no_namespace` tells pytest why a scenario cannot run here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def why_no_namespace(*programs: str, kind: str | None = None) -> str | None:
    """Why a scenario cannot run on this machine (None: it can).  *kind*: the test server the
    scenario needs, checked against XMPPCTL_TEST_SERVERS; *programs*: what it runs besides."""
    if kind is not None:
        wanted = [k.strip() for k in os.environ.get("XMPPCTL_TEST_SERVERS", kind).split(",")]
        if kind not in wanted:
            return f"{kind}: not in XMPPCTL_TEST_SERVERS"
    if os.geteuid() != 0:
        return "needs root to create a mount and network namespace (unshare -m -n)"
    for program in ("unshare", "ip", "mount", *programs):
        if shutil.which(program) is None:
            return f"{program} is not installed"
    try:
        import dnslib  # noqa: F401
    except ImportError:
        return "dnslib is not installed (pip install '.[test]')"
    probe = subprocess.run(["unshare", "-m", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create namespaces here: {probe.stderr.strip()}"
    return None


def isolate(work: Path) -> None:
    """Loopback up, and this namespace's resolver pointed at 127.0.0.1 (call inside the namespace)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    resolv = work / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)


class Zone:
    """Authoritative answers from the current records: NXDOMAIN for unknown names (a dnslib
    resolver; dnslib is imported only when used, so pytest can import this module without it)."""

    def __init__(self, records: str = "") -> None:
        from dnslib import RR

        self.records = RR.fromZone(records) if records else []
        #: names answered with SERVFAIL (a broken zone)
        self.servfail: set[str] = set()

    def resolve(self, request, handler):  # noqa: ANN001 - dnslib's interface
        from dnslib import QTYPE, RCODE

        reply = request.reply()
        reply.header.aa = 1
        qname, qtype = request.q.qname, request.q.qtype
        named = [rr for rr in self.records if rr.rname == qname]
        if str(qname) in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if not named:
            reply.header.rcode = RCODE.NXDOMAIN
        for rr in named:
            if rr.rtype == qtype or qtype == QTYPE.ANY:
                reply.add_answer(rr)
        return reply


def serve_zone(zone: Zone):
    """An authoritative DNS server for *zone* on 127.0.0.1:53 (a thread; ``.stop()`` it)."""
    from dnslib.server import DNSLogger, DNSServer

    dns = DNSServer(zone, port=53, address="127.0.0.1",
                    logger=DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False))
    dns.start_thread()
    return dns


#: the program each kind of test server needs
SERVER_PROGRAMS = {"prosody": "prosody", "ejabberd": "ejabberdctl"}


def run_scenario(script: Path, *args: str, servers: tuple[str, ...], kind: str, timeout: float = 180):
    """Run *script* in a new mount and network namespace (``unshare -m -n``) with this Python
    and return what it printed, parsed as JSON; skip the calling test, saying why, where
    namespaces cannot be made or a server of *servers* is missing."""
    import json
    import sys

    import pytest

    why = why_no_namespace(*(SERVER_PROGRAMS[s] for s in servers), kind=kind)
    if why:
        pytest.skip(why)
    r = subprocess.run(["unshare", "-m", "-n", sys.executable, str(script), *args],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)
