"""How xmppctl finds its server, against a real DNS server: run inside a private namespace only.

    unshare -m -n PYTHON tests/support/dns_scenario.py prosody|ejabberd WORKDIR [CASE...]   (as root)

Brings loopback up, bind-mounts a resolv.conf naming 127.0.0.1 over /etc/resolv.conf (in this
mount namespace only), serves a test zone for example.test from an authoritative DNS server
(dnslib) on 127.0.0.1:53, starts one Prosody or ejabberd for example.test (STARTTLS on 5222,
direct TLS on 5223), and a TLS listener whose certificate names only its own host.  Then, case by case, it
swaps the zone and runs ``xmppctl account test`` in a child process; it prints one JSON object:
case name -> {"code", "stdout", "stderr"}.  tests/integration/test_dns.py asserts on it.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dnslib import RR  # noqa: E402

from tests.support.certs import sign_cert  # noqa: E402
from tests.support.ejabberd import EjabberdServer  # noqa: E402
from tests.support.netns import Zone, isolate, serve_zone  # noqa: E402
from tests.support.prosody import ProsodyServer  # noqa: E402

DOMAIN = "example.test"
USER, PASSWORD = "alice", "dns-scenario-password"
#: 127.0.0.1: the XMPP server (5222 STARTTLS, 5223 direct TLS); 127.0.0.3: nothing listens;
#: 127.0.0.4:5223: TLS with a certificate for wrong.example.test only; 127.0.0.5:5222: a full
#: listen queue, where new connections are never answered (a connect times out)
SERVER, NOBODY, WRONG_CERT, SILENT = "127.0.0.1", "127.0.0.3", "127.0.0.4", "127.0.0.5"


def srv(kind: str, priority: int, port: int, target: str, weight: int = 5) -> str:
    return f"_{kind}._tcp.{DOMAIN}. 60 IN SRV {priority} {weight} {port} {target}"


HOSTS = "\n".join([
    f"xmpp.{DOMAIN}. 60 IN A {SERVER}",
    f"down.{DOMAIN}. 60 IN A {NOBODY}",
    f"dual.{DOMAIN}. 60 IN AAAA ::1",  # nothing listens on ::1 here: refused
    f"dual.{DOMAIN}. 60 IN A {SERVER}",
    f"wrong.{DOMAIN}. 60 IN A {WRONG_CERT}",
    f"silent.{DOMAIN}. 60 IN A {SILENT}",
])

#: cases whose SRV queries get SERVFAIL
BROKEN = {"srv-servfail": {f"_xmpp-client._tcp.{DOMAIN}.", f"_xmpps-client._tcp.{DOMAIN}."}}

#: case -> (zone, extra xmppctl options)
CASES: dict[str, tuple[str, list[str]]] = {
    "srv-starttls": (srv("xmpp-client", 0, 5222, f"xmpp.{DOMAIN}."), []),
    "srv-both-direct-preferred": (srv("xmpp-client", 0, 5222, f"xmpp.{DOMAIN}.") + "\n"
                                  + srv("xmpps-client", 0, 5223, f"xmpp.{DOMAIN}."), []),
    "srv-both-tls-starttls": (srv("xmpp-client", 0, 5222, f"xmpp.{DOMAIN}.") + "\n"
                              + srv("xmpps-client", 0, 5223, f"xmpp.{DOMAIN}."), ["--tls", "starttls"]),
    "only-xmpps": (srv("xmpps-client", 0, 5223, f"xmpp.{DOMAIN}."), []),
    # --debug: the trace says which addresses were tried, in which order
    "first-target-down": (srv("xmpp-client", 0, 5222, f"down.{DOMAIN}.") + "\n"
                          + srv("xmpp-client", 10, 5222, f"xmpp.{DOMAIN}."), ["--debug"]),
    "aaaa-refused-a-works": (srv("xmpp-client", 0, 5222, f"dual.{DOMAIN}."), ["--debug"]),
    "first-target-silent": (srv("xmpp-client", 0, 5222, f"silent.{DOMAIN}.") + "\n"
                            + srv("xmpp-client", 10, 5222, f"xmpp.{DOMAIN}."), ["--debug"]),
    "all-down": (srv("xmpp-client", 0, 5222, f"down.{DOMAIN}.") + "\n"
                 + srv("xmpps-client", 5, 5223, f"down.{DOMAIN}."), []),
    "srv-dot": (srv("xmpp-client", 0, 0, ".", weight=0) + f"\n{DOMAIN}. 60 IN A {SERVER}", []),
    "no-srv-fallback": (f"{DOMAIN}. 60 IN A {SERVER}", []),
    # SERVFAIL for both SRV names (see BROKEN) and no address for the domain either
    "srv-servfail": ("", []),
    "wrong-cert-target": (srv("xmpps-client", 0, 5223, f"wrong.{DOMAIN}.") + "\n"
                          + srv("xmpp-client", 10, 5222, f"xmpp.{DOMAIN}."), []),
}


def wrong_cert_listener(certs: Path) -> None:
    """TLS on WRONG_CERT:5223 with a certificate (from the same CA) for wrong.example.test only."""
    key, crt = certs / "wrong.key", certs / "wrong.crt"
    sign_cert(certs, f"wrong.{DOMAIN}", key, crt, sans=[f"DNS:wrong.{DOMAIN}"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    sock = socket.create_server((WRONG_CERT, 5223))

    def serve() -> None:
        while True:
            conn, _ = sock.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    threading.Thread(target=serve, daemon=True).start()


def silent_listener() -> list[socket.socket]:
    """SILENT:5222 with its accept queue full: the kernel drops further SYNs, so connecting hangs."""
    server = socket.create_server((SILENT, 5222), backlog=0)
    held = [server]
    for _ in range(8):  # fill the queue (its length is backlog + 1); stop once a connect hangs
        client = socket.socket()
        client.setblocking(False)
        try:
            client.connect((SILENT, 5222))
        except BlockingIOError:
            pass
        held.append(client)
    return held


def xmppctl(work: Path, ca_file: Path, extra: list[str]) -> dict:
    env = {**os.environ, "XMPPCTL_PASSWORD": PASSWORD, "XMPPCTL_CONFIG": str(work / "none.toml")}
    argv = [sys.executable, "-m", "xmppctl", "--jid", f"{USER}@{DOMAIN}", "--ca-file", str(ca_file),
            "--timeout", "8", *extra, "account", "test", "-o", "json"]
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    return {"code": r.returncode, "stdout": r.stdout, "stderr": r.stderr}


def main() -> None:
    kind, work, only = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    isolate(work)
    zone = Zone()
    dns = serve_zone(zone)
    if kind == "ejabberd":
        # ejabberd runs as its own user: a directory it can reach, not root's pytest tmp dir
        import tempfile

        server: ProsodyServer | EjabberdServer = EjabberdServer(Path(tempfile.mkdtemp(prefix="xmppctl-dns-ejabberd-")),
                                                                port=5222, domain=DOMAIN, direct_tls_port=5223)
    else:
        server = ProsodyServer(work / "prosody", port=5222, domain=DOMAIN, direct_tls_port=5223)
    server.start()
    try:
        server.register(USER, PASSWORD)
        wrong_cert_listener(server.directory / "certs")
        held = silent_listener()  # noqa: F841 - kept open until the cases ran
        results = {}
        for case, (records, extra) in CASES.items():
            if only and case not in only:
                continue
            zone.records = RR.fromZone(records + "\n" + HOSTS)
            zone.servfail = BROKEN.get(case, set())
            results[case] = xmppctl(work, server.ca_file, extra)
        print(json.dumps(results))
    finally:
        server.stop()
        dns.stop()
        if kind == "ejabberd":
            import shutil

            shutil.rmtree(server.directory, ignore_errors=True)


if __name__ == "__main__":
    main()
