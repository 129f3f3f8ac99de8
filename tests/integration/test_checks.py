"""``xmppctl check login|presence`` against real servers: every state, read as a monitoring
system reads it (tests/plugin_format.py, written from the guidelines, not our formatter)."""

from __future__ import annotations

from tests.integration.test_fleet import _config
from tests.integration.test_presence import befriend, held, hold  # noqa: F401  (held is a fixture)
from tests.support.peer import receive_stored, send_messages
from tests.plugin_format import parse_plugin_output
from tests.support import Contact, free_port

#: the test servers' certificates are made for 3650 days (tests/support/certs.py)
CERT_DAYS = 3650


def plugin(r):
    assert r.code in (0, 1, 2, 3), (r.code, r.stdout, r.stderr)
    return parse_plugin_output(r.stdout)


def test_check_login_ok_reports_time_and_the_presented_certificate(make_user, run_cli):
    alice = make_user("alice")
    r = run_cli(alice, "check", "login", "-w", "5", "-c", "10")
    out = plugin(r)
    assert (r.code, out.service_state) == (0, "XMPP LOGIN OK"), r.stdout
    assert out.text.startswith(f"{alice.jid} in ") and "TLSv1." in out.text
    assert out.perf["time"].uom == "s" and 0 < out.perf["time"].value < 10 and (out.perf["time"].warn, out.perf["time"].crit) == ("5", "10")
    assert CERT_DAYS - 2 <= out.perf["cert_days"].value <= CERT_DAYS


def test_check_login_certificate_days_warn_and_crit(make_user, run_cli):
    alice = make_user("alice")
    warn = run_cli(alice, "check", "login", "--warn-days", "4000")
    assert (warn.code, plugin(warn).service_state) == (1, "XMPP LOGIN WARNING"), warn.stdout
    crit = run_cli(alice, "check", "login", "--warn-days", "5000", "--crit-days", "4000")
    assert (crit.code, plugin(crit).service_state) == (2, "XMPP LOGIN CRITICAL"), crit.stdout
    assert "certificate valid" in plugin(crit).text


def test_check_login_wrong_password_is_critical(make_user, run_cli):
    alice = make_user("alice")
    r = run_cli(alice, "check", "login", env={"XMPPCTL_PASSWORD": "not-the-password"})
    out = plugin(r)
    assert (r.code, out.service_state) == (2, "XMPP LOGIN CRITICAL"), r.stdout
    assert "authentication failed" in out.text


def test_check_presence_of_an_unreachable_server_is_unknown(make_user, run_cli):
    alice = make_user("alice")
    r = run_cli(alice, "--port", str(free_port()), "check", "presence", "bot@localhost")
    assert (r.code, plugin(r).service_state) == (3, "XMPP PRESENCE UNKNOWN"), r.stdout


def test_check_usage_error_is_unknown_not_critical(run_cli):
    r = run_cli(None, "check", "login", "-w", "10:5")
    assert (r.code, plugin(r).service_state) == (3, "XMPP LOGIN UNKNOWN")


def test_check_presence_each_state(make_user, run_cli, held):
    alice, bot, gw, pal, far = (make_user(p) for p in ("alice", "bot", "gw", "pal", "far"))
    alice.seed([Contact(j.jid, subscription="both") for j in (bot, gw, pal)] + [Contact(far.jid, subscription="from")])
    for contact in (bot, gw, pal):
        contact.seed([Contact(alice.jid, subscription="both")])
    h1 = hold(held, bot)
    h2 = hold(held, pal, "--show", "dnd", "--status", "busy | evil=1")

    ok = run_cli(alice, "--timeout", "30", "check", "presence", bot.jid, pal.jid)
    out = plugin(ok)
    assert (ok.code, out.service_state) == (0, "XMPP PRESENCE OK"), ok.stdout
    assert out.perf["online"].value == 2 and out.perf["online"].max == "2" and out.perf["time"].uom == "s"

    away = run_cli(alice, "check", "presence", "--warn-away", "-v", bot.jid, pal.jid)
    out = plugin(away)
    assert (away.code, out.service_state) == (1, "XMPP PRESENCE WARNING"), away.stdout
    assert f"{pal.jid} (dnd)" in out.text and any("busy / evil=1" in line for line in out.long)

    crit = run_cli(alice, "check", "presence", bot.jid, gw.jid, pal.jid)
    out = plugin(crit)
    assert (crit.code, out.service_state) == (2, "XMPP PRESENCE CRITICAL"), crit.stdout
    assert out.text.startswith(f"1 of 3 offline: {gw.jid}") and out.perf["online"].value == 2

    unknown = run_cli(alice, "check", "presence", far.jid)
    out = plugin(unknown)
    assert (unknown.code, out.service_state) == (3, "XMPP PRESENCE UNKNOWN"), unknown.stdout
    assert "no-subscription" in out.text
    assert (h1.stop(), h2.stop()) == (0, 0)


def test_check_presence_reads_only(make_user, run_cli):
    """A stored message stays stored, a pending request stays pending (nobody answered it)."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    befriend(alice, bob)
    alice.seed([Contact(bob.jid, subscription="both")], pending_in=[carol.jid])
    send_messages(bob, alice.jid, ["stored before the check"])
    r = run_cli(alice, "check", "presence", bob.jid)
    assert (r.code, plugin(r).service_state) == (2, "XMPP PRESENCE CRITICAL"), r.stdout  # bob is offline
    assert [m["body"] for m in receive_stored(alice, expect=1)] == ["stored before the check"]
    pending = run_cli(alice, "sub", "pending", "-o", "json")
    assert pending.code == 0 and [p["jid"] for p in pending.json()] == [carol.jid], pending.stdout


def test_check_login_fleet_is_the_worst_with_a_line_per_account(make_user, run_cli, tmp_path):
    users = {"ok1": make_user("alice"), "broken": make_user("bob")}
    config = _config(tmp_path, users, wrong=("broken",))
    r = run_cli(None, "--config", config, "-a", "*", "check", "login")
    out = plugin(r)
    assert (r.code, out.service_state) == (2, "XMPP LOGIN CRITICAL"), r.stdout
    assert out.text == "2 accounts: 1 CRITICAL (broken), 1 OK"
    assert [line.split(":")[0] for line in out.long] == ["ok1", "broken"]
    assert out.long[0].startswith("ok1: OK - ") and "ok1/time" in out.perf


def test_check_timeout_is_unknown(run_cli):
    """A server that accepts the connection and never speaks: -t ends the check as UNKNOWN."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # the kernel completes the handshake; nobody ever answers
        r = run_cli(None, "--jid", "mon@localhost", "--server", "127.0.0.1", "--port", str(silent.getsockname()[1]),
                    "check", "login", "-t", "0.5", env={"XMPPCTL_PASSWORD": "x"})
    out = plugin(r)
    assert (r.code, out.service_state) == (3, "XMPP LOGIN UNKNOWN"), r.stdout
    assert "0.5 s" in out.text
    assert r.elapsed < 10  # the deadline, not an endless wait
