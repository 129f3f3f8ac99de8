"""Interop: the same promises on Prosody and ejabberd, and the test servers' own hygiene.

Real differences between the two servers observed with xmppctl (Prosody 0.12, ejabberd 23.01):
- Probe of an offline contact: Prosody answers ``unavailable``; ejabberd sends nothing (even
  when mod_last knows the contact), so a probe can only end at its deadline for such contacts.
  The presence tests that assume an answer are listed in conftest.SERVER_DIFFERENCES.
- Pending inbound subscription requests: Prosody keeps them outside the roster; ejabberd keeps
  them as roster items with ask=in and hides those from roster gets (seed_roster writes them
  that way).  Redelivery on initial presence needs priority >= 0 on ejabberd
  (docs/protocol-notes.md, "Probes and pending requests per server").
- SASL: ejabberd offers PLAIN, SCRAM-SHA-1(-PLUS) and X-OAUTH2 (xmppctl picks SCRAM-SHA-1)
  and still advertises the optional legacy ``session`` feature, which slixmpp skips.
- Seeding: Prosody's seed_roster writes its file storage and only works for users not yet
  logged in; ejabberd's writes Mnesia over Erlang RPC (mod_roster runs without cache for this).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess

from pathlib import Path

from tests.support import Contact


def test_seeded_roster_reads_back_identically(make_user, run_cli):
    user = make_user()
    user.seed([Contact("bob@localhost", "Bob", ("B", "A"), "both"),
               Contact("carol@example.org", None, (), "none", ask=True),
               Contact("erin@example.net", "Érin", ("Family",), "from")],
              pending_in=["zed@example.com"])
    r = run_cli(user, "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json() == [
        {"jid": "bob@localhost", "name": "Bob", "subscription": "both", "ask": False, "groups": ["A", "B"]},
        {"jid": "carol@example.org", "name": None, "subscription": "none", "ask": True, "groups": []},
        {"jid": "erin@example.net", "name": "Érin", "subscription": "from", "ask": False, "groups": ["Family"]},
    ]  # the pending inbound request from zed is not a roster item on either server


def test_login_uses_scram_not_plain(make_user, run_cli):
    user = make_user()
    r = run_cli(user, "--debug", "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert re.search(r"<auth [^>]*mechanism=\"SCRAM-SHA-", r.stderr), r.stderr[-2000:]


def _listeners(pid: int) -> list[str]:
    """host:port of every TCP socket *pid* listens on (from /proc: no iproute2 needed)."""
    inodes = set()
    for fd in (Path("/proc") / str(pid) / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in (Path("/proc") / str(pid) / "net" / table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A = LISTEN
                addr, port = local.split(":")
                host = (socket.inet_ntoa(bytes.fromhex(addr)[::-1]) if len(addr) == 8 else f"[{addr}]")
                found.append(f"{host}:{int(port, 16)}")
    return found


def test_ejabberd_listens_on_loopback_only_and_starts_no_epmd(ejabberd):
    beam = int((ejabberd.directory / "ejabberd.pid").read_text().strip())
    addresses = _listeners(beam)
    assert f"127.0.0.1:{ejabberd.port}" in addresses
    assert f"127.0.0.1:{ejabberd.dist_port}" in addresses  # Erlang distribution
    assert all(a.startswith("127.0.0.1:") for a in addresses), addresses
    # A node finds ours at the fixed port; nothing asks for (and so starts) an epmd.
    cmdline = (Path("/proc") / str(beam) / "cmdline").read_bytes().split(b"\0")
    assert b"-start_epmd" in cmdline and cmdline[cmdline.index(b"-start_epmd") + 1] == b"false"


def test_ejabberd_users_are_registered_with_ejabberdctl_against_our_node(ejabberd, run_cli):
    ejabberd.register("ctluser", "ctl-password-1")
    out = subprocess.run([*ejabberd._ctl(), "registered_users", ejabberd.domain], capture_output=True, text=True,
                         cwd=ejabberd.directory)
    assert out.returncode == 0, out.stderr
    assert "ctluser" in out.stdout.split()
