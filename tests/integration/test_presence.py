"""presence set / probe / watch against a real Prosody, with contacts that are really online.

Online contacts are second xmppctl processes running ``presence set --hold forever``; each
prints what it sent (one NDJSON line) once its presence is out, which is the readiness signal.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading

import pytest

from tests.support.helpers import User
from tests.support import Contact, free_port


def befriend(a: User, b: User, extra_a: list[Contact] = ()) -> None:
    """Mutual subscription, written to storage before either logs in."""
    a.seed([Contact(b.jid, subscription="both"), *extra_a])
    b.seed([Contact(a.jid, subscription="both")])


class Held:
    """A background ``xmppctl presence set --hold forever`` (or a ``presence watch``) process."""

    def __init__(self, user: User, *args: str):
        # password None: the accounts' own sources (a fleet run refuses the shared variable)
        env = dict(os.environ, **({} if user.password is None else {"XMPPCTL_PASSWORD": user.password}))
        self.proc = subprocess.Popen([sys.executable, "-m", "xmppctl", *user.args, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        # a reader thread, so that a line that never comes fails the test instead of hanging it
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for text in self.proc.stdout:
            self.lines.put(text)
        self.lines.put(None)

    def raw_line(self, timeout: float = 15) -> str:
        try:
            text = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output line within {timeout} s") from None
        if text is None:
            self.proc.wait(10)
            raise AssertionError(f"no output; exit {self.proc.returncode}: {self.proc.stderr.read()}")
        return text

    def line(self, timeout: float = 15) -> dict:
        return json.loads(self.raw_line(timeout))

    def stop(self) -> int:
        """SIGINT, then the exit status (the caller asserts it is 0)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def rest(self) -> list[dict]:
        """The remaining output lines once the process ends by itself (--count/--until)."""
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            raise AssertionError("the process did not end by itself") from None
        out = []
        while (text := self.lines.get(timeout=5)) is not None:
            if text.strip():
                out.append(json.loads(text))
        return out


@pytest.fixture
def held():
    procs: list[Held] = []

    def start(user: User, *args: str, ready: bool = True) -> Held:
        h = Held(user, *args)
        procs.append(h)
        if ready:
            h.sent = h.line()
        return h

    yield start
    for h in procs:
        if h.proc.poll() is None:
            h.proc.kill()
            h.proc.wait()


def hold(held, user: User, *args: str) -> Held:
    return held(user, "presence", "set", "--hold", "forever", "-o", "ndjson", *args)


def test_two_resources_of_one_contact_are_two_rows_highest_priority_first(make_user, run_cli, held):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    low = hold(held, bob, "--show", "away", "--priority", "1")
    high = hold(held, bob, "--show", "dnd", "--status", "in a meeting", "--priority", "5")
    r = run_cli(alice, "--timeout", "30", "presence", "probe", "-o", "json")
    assert r.code == 0, r.stderr
    rows = r.json()
    assert [(x["state"], x["show"], x["status"], x["priority"]) for x in rows] == [
        ("online", "dnd", "in a meeting", 5),
        ("online", "away", None, 1),
    ]
    assert [x["resource"] for x in rows] == [high.sent["jid"].split("/")[1], low.sent["jid"].split("/")[1]]
    assert all(x["jid"] == bob.jid and x["since"] for x in rows)  # Prosody stamps probe answers
    assert r.elapsed < 15  # everyone answered: it did not wait for the 30 s deadline
    assert (low.stop(), high.stop()) == (0, 0)


def test_offline_and_unsubscribed_contacts_are_reported_without_waiting(make_user, run_cli):
    alice, carol, dave = make_user("alice"), make_user("carol"), make_user("dave")
    befriend(alice, carol, [Contact(dave.jid, subscription="from"), Contact("zed@localhost", subscription="none", ask=True)])
    r = run_cli(alice, "--timeout", "30", "presence", "probe", "-o", "json")
    assert r.code == 0, r.stderr
    states = {x["jid"]: (x["state"], x["ask"]) for x in r.json()}
    assert states == {carol.jid: ("offline", False), dave.jid: ("no-subscription", False),
                      "zed@localhost": ("no-subscription", True)}  # our request to zed is pending
    assert r.elapsed < 15  # not the 30 s deadline


def test_probe_with_only_unsubscribed_contacts_returns_at_once(make_user, run_cli):
    alice = make_user("alice")
    alice.seed([Contact("nobody@localhost", subscription="from")])
    r = run_cli(alice, "--timeout", "30", "presence", "probe", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json() == [{"jid": "nobody@localhost", "resource": None, "state": "no-subscription", "show": None,
                         "status": None, "priority": None, "since": None, "last_seen": None, "idle": None,
                         "error": None, "ask": False}]
    assert r.elapsed < 15  # not the 30 s deadline


def test_named_jids_not_in_roster_and_group_selection(make_user, run_cli):
    alice, carol = make_user("alice"), make_user("carol")
    alice.seed([Contact(carol.jid, subscription="both", groups=("Team",)), Contact("x@localhost", subscription="none")])
    carol.seed([Contact(alice.jid, subscription="both")])
    r = run_cli(alice, "presence", "probe", "-o", "json", "stranger@localhost", "--group", "Team")
    assert r.code == 0, r.stderr
    assert {x["jid"]: x["state"] for x in r.json()} == {"stranger@localhost": "not-in-roster", carol.jid: "offline"}


def test_presence_error_from_unreachable_domain_is_error_state(make_user, run_cli):
    alice = make_user("alice")
    alice.seed([Contact("eve@example.org", subscription="both")])  # the test server has no s2s
    r = run_cli(alice, "--timeout", "30", "presence", "probe", "-o", "json")
    assert r.code == 0, r.stderr
    [row] = r.json()
    assert row["state"] == "error" and row["error"]  # Prosody: not-allowed; ejabberd: forbidden
    assert r.elapsed < 15  # not the 30 s deadline


def test_last_reports_when_an_offline_contact_was_last_online(make_user, run_cli):
    alice, carol = make_user("alice"), make_user("carol")
    befriend(alice, carol)
    assert run_cli(carol, "presence", "set", "--status", "gone fishing").code == 0
    r = run_cli(alice, "presence", "probe", "--last", "-o", "json")
    assert r.code == 0, r.stderr
    [row] = r.json()
    assert row["state"] == "offline"
    assert isinstance(row["idle"], int) and 0 <= row["idle"] < 60
    assert row["last_seen"].endswith("Z")
    if alice.server.kind == "prosody":  # ejabberd needs XEP-0012 to tell offline at all
        r = run_cli(alice, "presence", "probe", "-o", "json")
        assert r.json()[0]["last_seen"] is None  # only asked for with --last


def test_probe_table_and_csv(make_user, run_cli):
    alice, carol = make_user("alice"), make_user("carol")
    befriend(alice, carol)
    r = run_cli(alice, "presence", "probe", "-o", "table")
    assert r.code == 0, r.stderr
    assert r.stdout.splitlines()[0].split()[:3] == ["jid", "resource", "state"]
    assert carol.jid in r.stdout and "offline" in r.stdout
    r = run_cli(alice, "presence", "probe", "-o", "csv")
    assert r.stdout.splitlines()[0] == "jid,resource,state,show,status,priority,since,last_seen,idle,error,ask"


@pytest.mark.parametrize("args, message", [
    (("--show", "busy"), "invalid show"),
    (("--priority", "128"), "invalid priority"),
    (("--priority", "-129"), "invalid priority"),
    (("--to", "not a jid"), "invalid JID"),
    (("--unavailable", "--show", "away"), "--unavailable"),
    (("--hold", "soon"), "invalid --hold"),
])
def test_set_rejects_bad_input_before_connecting(make_user, run_cli, args, message):
    # Nothing listens on the port: reaching the network would be exit 4, not 2.
    r = run_cli(make_user(), "--port", str(free_port()), "presence", "set", *args)
    assert r.code == 2, r.stderr
    assert message in r.stderr


def test_probe_and_watch_reject_bad_priority_before_connecting(make_user, run_cli):
    user = make_user()
    for cmd in ("probe", "watch"):
        r = run_cli(user, "--port", str(free_port()), "presence", cmd, "--priority", "200")
        assert r.code == 2, r.stderr


def test_watch_sees_a_subscribed_contacts_presence_set(make_user, run_cli, held):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    w = held(alice, "presence", "watch", "-o", "ndjson", "--count", "3", ready=False)
    first = w.line()  # the answer to the watch's own initial presence: bob is offline
    assert (first["jid"], first["type"], first["kind"]) == (bob.jid, "unavailable", "presence")
    r = run_cli(bob, "presence", "set", "--show", "chat", "--status", "hello", "--priority", "3")
    assert r.code == 0, r.stderr
    events = w.rest()
    assert w.proc.returncode == 0
    assert [(e["type"], e["show"], e["status"], e["priority"]) for e in events] == [
        ("available", "chat", "hello", 3),
        ("unavailable", None, None, None),  # a presence without --hold ends with its session
    ]
    assert all(e["jid"] == bob.jid and e["resource"] for e in events)


def test_directed_presence_is_seen_only_by_its_target(make_user, run_cli, held):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    befriend(alice, bob)  # bob is subscribed to alice; carol is not in alice's roster at all
    watch_bob = held(bob, "presence", "watch", "-o", "ndjson", "--jid", alice.jid, ready=False)
    # carol has no contacts to answer her probe: a pending request redelivered to her watch
    # tells the test that her session is up
    carol.seed([], pending_in=["someone@localhost"])
    watch_carol = held(carol, "presence", "watch", "-o", "ndjson", "--count", "2", ready=False)
    assert watch_bob.line()["type"] == "unavailable"  # bob's watch is up: alice answered its probe offline
    assert watch_carol.line()["type"] == "subscribe"
    r = run_cli(alice, "presence", "set", "--to", carol.jid, "--status", "just for carol")
    assert r.code == 0, r.stderr
    carol_events = watch_carol.rest()
    assert watch_carol.proc.returncode == 0
    assert [(e["jid"], e["status"]) for e in carol_events] == [(alice.jid, "just for carol")]
    # A broadcast afterwards reaches bob; the directed one before it must not have.
    r = run_cli(alice, "presence", "set", "--status", "for everyone")
    assert r.code == 0, r.stderr
    seen = []
    while not seen or seen[-1]["status"] != "for everyone":
        seen.append(watch_bob.line())
    assert "just for carol" not in [e["status"] for e in seen]
    assert watch_bob.stop() == 0


def test_hold_ends_on_sigint_with_unavailable_and_exit_0(make_user, run_cli, held):
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    h = hold(held, bob, "--show", "xa")
    assert h.sent["hold"] == "forever" and h.sent["show"] == "xa"
    w = held(alice, "presence", "watch", "-o", "ndjson", "--count", "2", ready=False)
    assert w.line()["show"] == "xa"  # bob is online: the probe answer
    assert h.stop() == 0
    assert [(e["type"], e["jid"]) for e in w.rest()] == [("unavailable", bob.jid)]
    assert w.proc.returncode == 0


def test_hold_for_a_duration_then_exits_0(make_user, run_cli):
    r = run_cli(make_user(), "presence", "set", "--hold", "0.3s", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json()["hold"] == 0.3


def test_watch_until_ends_cleanly_and_sigint_exits_0(make_user, run_cli, held):
    user = make_user()
    r = run_cli(user, "presence", "watch", "--until", "0.5", "-o", "json")
    assert (r.code, r.json()) == (0, [])
    w = held(user, "presence", "watch", "-o", "table", ready=False)
    assert w.raw_line().split()[:2] == ["time", "jid/resource"]  # connected
    assert w.stop() == 0


def test_watch_marks_subscription_requests(make_user, run_cli, held):
    alice, bob = make_user("alice"), make_user("bob")
    alice.seed([], pending_in=[bob.jid])  # bob asked earlier; Prosody redelivers on initial presence
    w = held(alice, "presence", "watch", "-o", "ndjson", "--count", "1", ready=False)
    [event] = w.rest()
    assert (event["kind"], event["type"], event["jid"]) == ("subscription", "subscribe", bob.jid)
    assert w.proc.returncode == 0


def test_expect_online_exits_10_when_a_named_contact_is_not_online_and_prints_rows(make_user, run_cli, held):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    befriend(alice, bob, [Contact(carol.jid, subscription="both")])
    carol.seed([Contact(alice.jid, subscription="both")])
    h = hold(held, bob)
    ok = run_cli(alice, "presence", "probe", "--expect-online", bob.jid, "-o", "json")
    assert ok.code == 0, ok.stderr
    assert [(x["jid"], x["state"]) for x in ok.json()] == [(bob.jid, "online")]
    drift = run_cli(alice, "presence", "probe", "--expect-online", bob.jid, carol.jid, "-o", "json")
    assert drift.code == 10, drift.stderr
    assert sorted((x["jid"], x["state"]) for x in drift.json()) == [(bob.jid, "online"), (carol.jid, "offline")]
    error = drift.error()
    assert (error["error"], error["details"]) == ("drift", [{"jid": carol.jid, "state": "offline"}])
    plain = run_cli(alice, "presence", "probe", bob.jid, carol.jid, "-o", "json")
    assert plain.code == 0  # without --expect-online an offline contact is no failure
    assert h.stop() == 0


def test_subscription_requests_reaching_a_probe_are_reported_and_stay_pending(make_user, run_cli):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    befriend(alice, carol)
    alice.seed([Contact(carol.jid, subscription="both")], pending_in=[bob.jid])
    # priority 0: ejabberd redelivers pending requests only then (XEP-0013 keeps messages stored)
    r = run_cli(alice, "presence", "probe", "--priority", "0", "-o", "json")
    assert r.code == 0, r.stderr
    assert [(x["jid"], x["state"]) for x in r.json()] == [(carol.jid, "offline")]
    events = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    assert [(e["event"], e["from"]) for e in events if e.get("event") == "subscription-request"] == [
        ("subscription-request", bob.jid)]
    listed = run_cli(alice, "sub", "pending", "--direction", "in", "-o", "json")
    assert [x["jid"] for x in listed.json()] == [bob.jid]  # reported, not answered


def test_without_invisible_a_probe_shows_the_account_online_to_its_contacts(make_user, run_cli, held):
    """What docs/protocol-notes.md says contacts see when the server offers no XEP-0186."""
    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    bob_online = hold(held, bob, "--priority", "1")
    w = held(alice, "presence", "watch", "-o", "ndjson", "--count", "3", ready=False)
    first = w.line()  # the answer to the watch's own initial presence: the watch is up
    assert (first["jid"], first["type"], first["priority"]) == (bob.jid, "available", 1)
    r = run_cli(bob, "presence", "probe", "-o", "json")
    assert r.code == 0, r.stderr
    events = w.rest()
    assert [(e["jid"], e["type"], e["priority"]) for e in events] == [(bob.jid, "available", -1),
                                                                     (bob.jid, "unavailable", None)]
    assert events[0]["resource"].startswith("xmppctl-") and events[0]["resource"] == events[1]["resource"]
    assert events[0]["resource"] != first["resource"]
    assert bob_online.stop() == 0


@pytest.mark.parametrize("args", [("probe",), ("watch", "--until", "30")])
def test_invisible_on_a_server_without_xep_0186_is_exit_6_and_sends_no_presence(make_user, args):
    from tests.support.helpers import run_subprocess

    alice, bob = make_user("alice"), make_user("bob")
    befriend(alice, bob)
    r = run_subprocess(alice, "--debug", "presence", *args, "--invisible", "-o", "json")
    assert r.code == 6, r.stderr
    error = r.error()
    assert error["message"].startswith("server does not support invisibility (XEP-0186)")
    assert error["condition"] == "feature-not-implemented"
    assert r.stdout == ""
    sent = [line for line in r.stderr.splitlines() if "SEND" in line]
    assert any("disco#info" in line for line in sent), sent  # asked first ...
    assert not any("<presence" in line or "invisible:0" in line for line in sent), sent  # ... nothing else
