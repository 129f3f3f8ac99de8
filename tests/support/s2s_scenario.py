"""roster migrate between two servers that talk to each other (s2s): run inside a private namespace only.

    unshare -m -n PYTHON tests/support/s2s_scenario.py prosody|ejabberd WORKDIR   (as root)

Brings loopback up, serves a zone for old.test and new.test from a DNS server on 127.0.0.1:53
(tests/support/netns.py): each domain has an A record (127.0.0.1) and an
``_xmpp-server._tcp`` SRV record naming its server's s2s port.  Two throwaway servers, one per
domain, s2s enabled with certificates from one test CA: a Prosody for old.test
(``s2s_secure_auth``: a peer without a valid certificate is refused) and a Prosody or an
ejabberd (the first argument) for new.test.  OLD (mover@old.test) has contacts on old.test:
bob (both), carol (from), dave (to), erin (to, never answers), frank (asked OLD, pending) and
gina (both, online during the migration: her client approves and asks back at once);
NEW (mover@new.test) starts empty.  Then, in order:

1. ``xmppctl -a old roster migrate --to new`` (run 1), gina's client answering as it runs;
2. the contacts' clients answer what arrived from NEW across s2s: bob approves NEW's request
   and asks NEW, carol asks NEW, dave approves; erin and frank never come online;
3. migrate again with ``--exit-code`` (run 2), and once more (run 3: nothing left to send);
4. both accounts' rosters (xmppctl) and the contacts' rosters (read after a round trip to
   new.test, so they include everything new.test sent).

Prints one JSON object; tests/integration/test_migrate_s2s.py asserts on it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.ejabberd import EjabberdServer  # noqa: E402
from tests.support.common import Contact, free_port  # noqa: E402
from tests.support.helpers import User  # noqa: E402
from tests.support.netns import Zone, isolate, serve_zone  # noqa: E402
from tests.support.peer import answer_subscriptions, roster_after_round_trip  # noqa: E402
from tests.support.prosody import ProsodyServer  # noqa: E402

OLD_DOMAIN, NEW_DOMAIN = "old.test", "new.test"
PASSWORD = "s2s-scenario-password"
#: contact -> (subscription on OLD, approves NEW's request, asks NEW)
CONTACTS = {"bob": ("both", True, True), "carol": ("from", False, True),
            "dave": ("to", True, False), "erin": ("to", False, False)}


def zone(s2s_ports: dict[str, int]) -> Zone:
    records = []
    for domain, port in s2s_ports.items():
        records += [f"{domain}. 60 IN A 127.0.0.1", f"_xmpp-server._tcp.{domain}. 60 IN SRV 0 5 {port} {domain}."]
    return Zone("\n".join(records))


def write_config(work: Path, accounts: dict[str, User]) -> Path:
    path = work / "xmppctl.toml"
    path.write_text("".join(
        f'[accounts.{name}]\njid = "{u.jid}"\nserver = "127.0.0.1"\nport = {u.server.port}\n'
        f'ca_file = "{u.server.ca_file}"\npassword = "{u.password}"\n' for name, u in accounts.items()))
    path.chmod(0o600)
    return path


def xmppctl(work: Path, config: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XMPPCTL_")}
    env["XDG_DATA_HOME"] = str(work / "data-home")  # migrate's state (pre-approvals sent)
    argv = [sys.executable, "-m", "xmppctl", "--config", str(config), "--timeout", "10", *args]
    started = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=90)
    out = {"code": r.returncode, "stderr": r.stderr, "seconds": round(time.monotonic() - started, 2)}
    try:
        out["json"] = json.loads(r.stdout)
    except ValueError:
        out["stdout"] = r.stdout
    return out


def main() -> None:
    new_kind, work = sys.argv[1], Path(sys.argv[2])
    started = time.monotonic()
    isolate(work)
    ports = {OLD_DOMAIN: free_port(), NEW_DOMAIN: free_port()}
    dns = serve_zone(zone(ports))
    servers: dict[str, ProsodyServer | EjabberdServer] = {}
    if new_kind == "ejabberd":
        # ejabberd runs as its own user: a directory it can reach, not root's pytest tmp dir
        base = Path(tempfile.mkdtemp(prefix="xmppctl-s2s-"))
        base.chmod(0o755)
        certs = base / "certs"  # one CA: each server trusts the other's certificate
        servers[OLD_DOMAIN] = ProsodyServer(work / OLD_DOMAIN, domain=OLD_DOMAIN, s2s_port=ports[OLD_DOMAIN], certs_dir=certs)
        servers[NEW_DOMAIN] = EjabberdServer(base / NEW_DOMAIN, domain=NEW_DOMAIN, s2s_port=ports[NEW_DOMAIN], certs_dir=certs)
    else:
        base = certs = work / "certs"
        servers = {d: ProsodyServer(work / d, domain=d, s2s_port=port, certs_dir=certs) for d, port in ports.items()}
    try:
        for server in servers.values():
            server.start()
        old_server, new_server = servers[OLD_DOMAIN], servers[NEW_DOMAIN]
        users = {name: User(old_server, name, PASSWORD) for name in (*CONTACTS, "frank", "gina")}
        old, new = User(old_server, "mover", PASSWORD), User(new_server, "mover", PASSWORD)
        for u in (old, new, *users.values()):
            u.server.register(u.name, u.password)
        old.seed([Contact(users["bob"].jid, "Bob", ("Friends",), "both"), Contact(users["carol"].jid, "Carol", (), "from"),
                  Contact(users["dave"].jid, None, ("Work",), "to"), Contact(users["erin"].jid, "Erin", (), "to"),
                  Contact(users["gina"].jid, "Gina", ("Friends", "Online"), "both"), Contact(new.jid, "me", (), "both")],
                 pending_in=[users["frank"].jid])
        config = write_config(work, {"old": old, "new": new})
        migrate = ("-a", "old", "roster", "migrate", "--to", "new", "--rate", "200/s", "-o", "json")
        result: dict = {"old": old.jid, "new": new.jid, "contacts": {n: u.jid for n, u in users.items()}}
        result["old_before"] = xmppctl(work, config, "-a", "old", "roster", "list", "-o", "json")
        with ThreadPoolExecutor(1) as pool:  # gina's client, online while run 1 sends
            online = threading.Event()
            gina = pool.submit(answer_subscriptions, users["gina"], new.jid, approve=True, ask=True, timeout=30,
                               online=online)
            if not online.wait(15):
                gina.result(0)  # her login failed: raise its error
            result["runs"] = [xmppctl(work, config, *migrate)]
            gina_answer = gina.result(60)
        result["answers"] = {name: answer_subscriptions(users[name], new.jid, approve=approve, ask=ask)
                             for name, (_, approve, ask) in CONTACTS.items() if approve or ask}
        result["answers"]["gina"] = gina_answer
        result["runs"] += [xmppctl(work, config, *migrate, "--exit-code") for _ in range(2)]
        result["new_after"] = xmppctl(work, config, "-a", "new", "roster", "list", "-o", "json")
        result["old_after"] = xmppctl(work, config, "-a", "old", "roster", "list", "-o", "json")
        result["old_pending"] = xmppctl(work, config, "-a", "old", "sub", "pending", "-o", "json")
        result["contact_rosters"] = {name: roster_after_round_trip(users[name], NEW_DOMAIN) for name in (*CONTACTS, "gina")}
        result["seconds"] = round(time.monotonic() - started, 2)
        print(json.dumps(result))
    finally:
        for server in servers.values():
            server.stop()
        dns.stop()
        if new_kind == "ejabberd":
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
