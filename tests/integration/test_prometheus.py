"""``-o prometheus`` and ``--textfile`` read by the real consumers: ``promtool check metrics``
accepts every document, and a node_exporter started here (loopback, a free port, only the
textfile collector; never the system service) serves what --textfile wrote."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request

import pytest

from tests.integration.test_fleet import _config
from tests.integration.test_presence import befriend, held, hold  # noqa: F401  (held is a fixture)
from tests.plugin_format import parse_exposition
from tests.support import Contact, free_port

NODE_EXPORTER = "prometheus-node-exporter"


def promtool_accepts(document: str) -> None:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is not installed: run scripts/setup-env --test (Debian package prometheus)")
    proc = subprocess.run(["promtool", "check", "metrics"], input=document, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (proc.stdout, proc.stderr, document)


def series(document: str) -> dict:
    """(name, {labels}) -> value, keyed with the labels as a frozenset for easy lookups."""
    return {(name, frozenset(labels)): value for (name, labels), value in parse_exposition(document).items()}


def test_every_document_passes_promtool(make_user, run_cli, held):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    befriend(alice, bob, [Contact(carol.jid, subscription="both"), Contact("zed@localhost", subscription="none", ask=True)])
    carol.seed([Contact(alice.jid, subscription="both")])
    h = hold(held, bob, "--show", "away")
    account = alice.jid  # no config account name: the JID is the label

    probe = run_cli(alice, "--timeout", "30", "presence", "probe", "-o", "prometheus")
    assert probe.code == 0, probe.stderr
    promtool_accepts(probe.stdout)
    got = series(probe.stdout)
    assert got[("xmppctl_contact_up", frozenset({("account", account), ("jid", bob.jid)}))] == 1
    assert got[("xmppctl_contact_up", frozenset({("account", account), ("jid", carol.jid)}))] == 0
    assert got[("xmppctl_contact_show", frozenset({("account", account), ("jid", bob.jid), ("show", "away")}))] == 1
    assert got[("xmppctl_login_success", frozenset({("account", account)}))] == 1
    expiry = got[("xmppctl_tls_certificate_expiry_timestamp_seconds", frozenset({("account", account)}))]
    assert time.time() + 3600 * 86400 < expiry < time.time() + 3651 * 86400  # the test CA's 3650 days

    roster = run_cli(alice, "roster", "list", "-o", "prometheus")
    assert roster.code == 0, roster.stderr
    promtool_accepts(roster.stdout)
    got = series(roster.stdout)
    assert got[("xmppctl_roster_contacts", frozenset({("account", account), ("subscription", "both")}))] == 2
    assert got[("xmppctl_roster_contacts", frozenset({("account", account), ("subscription", "none")}))] == 1
    assert got[("xmppctl_subscription_requests_pending", frozenset({("account", account), ("direction", "out")}))] == 1

    for args in (("check", "login", "-o", "prometheus"), ("check", "presence", "-o", "prometheus", bob.jid, carol.jid)):
        r = run_cli(alice, *args)
        assert r.code == (0 if args[1] == "login" else 2), (args, r.stdout)  # carol offline: CRITICAL
        promtool_accepts(r.stdout)
        assert ("xmppctl_login_success", frozenset({("account", account)})) in series(r.stdout)
    assert h.stop() == 0


@pytest.fixture
def node_exporter(tmp_path):
    """A node_exporter on a free loopback port reading tmp_path/textfiles; yields (dir, url)."""
    if shutil.which(NODE_EXPORTER) is None:
        pytest.fail("prometheus-node-exporter is not installed: run scripts/setup-env --test")
    directory = tmp_path / "textfiles"
    directory.mkdir()
    port = free_port()
    proc = subprocess.Popen([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
                             "--collector.textfile", f"--collector.textfile.directory={directory}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 30
    try:
        while True:  # up when it answers; a loose deadline tells a broken start from a slow one
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"node_exporter did not come up: {proc.stderr.read() if proc.poll() is not None else ''}") from None
                time.sleep(0.05)
        yield directory, url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_fleet_textfile_is_served_by_node_exporter(make_user, run_cli, held, tmp_path, node_exporter):
    directory, url = node_exporter
    alice, bob, broken = make_user("alice"), make_user("bob"), make_user("carol")
    befriend(alice, bob)
    h = hold(held, bob)
    config = _config(tmp_path, {"bots": alice, "broken": broken}, wrong=("broken",))
    target = directory / "xmpp.prom"

    r = run_cli(None, "--config", config, "-q", "-a", "*", "presence", "probe", "--textfile", str(target))
    assert r.code == 7, r.stderr  # one account failed: non-zero, as in every fleet command
    assert r.stdout == "" and "broken" in r.stderr
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in directory.iterdir()] == ["xmpp.prom"]  # no temporary file left
    promtool_accepts(target.read_text())

    scraped = urllib.request.urlopen(url, timeout=10).read().decode()
    got = series(scraped)
    assert got[("node_textfile_scrape_error", frozenset())] == 0
    assert got[("xmppctl_contact_up", frozenset({("account", "bots"), ("jid", bob.jid)}))] == 1
    assert got[("xmppctl_login_success", frozenset({("account", "bots")}))] == 1
    assert got[("xmppctl_login_success", frozenset({("account", "broken")}))] == 0
    assert h.stop() == 0


def test_textfile_must_end_in_prom_and_nothing_is_sent(run_cli, tmp_path):
    r = run_cli(None, "--jid", "a@localhost", "roster", "list", "--textfile", str(tmp_path / "xmpp.txt"))
    assert r.code == 2 and ".prom" in r.stderr
    r = run_cli(None, "--jid", "a@localhost", "roster", "list", "-o", "json", "--textfile", str(tmp_path / "x.prom"))
    assert r.code == 2 and "-o json" in r.stderr
