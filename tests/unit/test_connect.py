"""The order in which a session tries servers (RFC 6120 §3.2, RFC 2782, XEP-0368, RFC 8305)."""

from __future__ import annotations

import random
import ssl
from collections import Counter

import pytest

from xmppctl.config import Account
from xmppctl.xmpp.connect import (DIRECT_TLS_SERVICE, STARTTLS_SERVICE, SrvRecord, Target, Tried, attempt_label,
                             connect_outcome, fixed_targets, interleave, order_srv, srv_targets)
from xmppctl.errors import ConnectionFailure

D = "example.org"


def rec(service: str, priority: int, target: str, port: int = 5222, weight: int = 0) -> SrvRecord:
    return SrvRecord(service, priority, weight, port, target)


def hosts(targets: list[Target]) -> list[tuple[str, int, str]]:
    return [(t.host, t.port, t.found) for t in targets]


def test_lower_priority_first_whatever_the_kind():
    records = [rec(STARTTLS_SERVICE, 10, "b.example.org."), rec(DIRECT_TLS_SERVICE, 20, "c.example.org.", 443),
               rec(STARTTLS_SERVICE, 0, "a.example.org.")]
    assert hosts(order_srv(records, prefer_direct=True)) == [
        ("a.example.org", 5222, "SRV"), ("b.example.org", 5222, "SRV"), ("c.example.org", 443, "XEP-0368")]


@pytest.mark.parametrize("prefer_direct, first", [(True, "XEP-0368"), (False, "SRV")])
def test_at_equal_priority_the_preferred_tls_mode_goes_first(prefer_direct, first):
    records = [rec(STARTTLS_SERVICE, 5, "x.example.org.", 5222, weight=100),
               rec(DIRECT_TLS_SERVICE, 5, "x.example.org.", 5223, weight=1)]
    for seed in range(20):
        targets = order_srv(records, prefer_direct=prefer_direct, rng=random.Random(seed))
        assert targets[0].found == first and len(targets) == 2


def test_weights_share_the_first_place_in_proportion():
    records = [rec(STARTTLS_SERVICE, 0, "heavy.", weight=90), rec(STARTTLS_SERVICE, 0, "light.", weight=10)]
    rng = random.Random(7)
    firsts = Counter(order_srv(records, prefer_direct=True, rng=rng)[0].host for _ in range(2000))
    assert 1600 < firsts["heavy"] < 1990  # ~1800 expected; light still gets its turn
    assert firsts["light"] > 10


def test_weight_zero_records_are_still_tried():
    records = [rec(STARTTLS_SERVICE, 0, "zero.", weight=0), rec(STARTTLS_SERVICE, 0, "some.", weight=10)]
    assert sorted(t.host for t in order_srv(records, prefer_direct=True, rng=random.Random(1))) == ["some", "zero"]


def test_the_same_target_twice_is_tried_once():
    records = [rec(STARTTLS_SERVICE, 0, "x.example.org."), rec(STARTTLS_SERVICE, 5, "X.example.org")]
    assert len(order_srv(records, prefer_direct=True)) == 1


def test_no_srv_record_falls_back_to_the_domain():
    assert hosts(srv_targets(D, [], Account(jid=f"me@{D}"))) == [(D, 5222, "fallback")]
    direct = Account(jid=f"me@{D}", tls="direct", tls_chosen=True)
    assert [(t.host, t.port, t.direct_tls) for t in srv_targets(D, [], direct)] == [(D, 5223, True)]


def test_a_dot_target_means_not_available_and_no_fallback():
    with pytest.raises(ConnectionFailure, match="not available"):
        srv_targets(D, [rec(STARTTLS_SERVICE, 0, ".")], Account(jid=f"me@{D}"))


def test_a_dot_for_one_kind_leaves_the_other_kind():
    records = [rec(STARTTLS_SERVICE, 0, "."), rec(DIRECT_TLS_SERVICE, 0, "tls.example.org.", 5223)]
    assert hosts(srv_targets(D, records, Account(jid=f"me@{D}"))) == [("tls.example.org", 5223, "XEP-0368")]


def test_explicit_starttls_prefers_starttls_records():
    records = [rec(STARTTLS_SERVICE, 0, "a."), rec(DIRECT_TLS_SERVICE, 0, "a.", 5223)]
    default = srv_targets(D, records, Account(jid=f"me@{D}"))
    chosen = srv_targets(D, records, Account(jid=f"me@{D}", tls="starttls", tls_chosen=True))
    assert [t.tls for t in default] == ["direct", "starttls"]
    assert [t.tls for t in chosen] == ["starttls", "direct"]


@pytest.mark.parametrize("kwargs, expected", [
    ({"server": "xmpp.example.net"}, ("xmpp.example.net", 5222, False, "--server")),
    ({"server": "xmpp.example.net", "tls": "direct"}, ("xmpp.example.net", 5223, True, "--server")),
    ({"server": "10.0.0.1", "port": 443, "tls": "direct"}, ("10.0.0.1", 443, True, "--server")),
    ({"port": 5269}, (D, 5269, False, "--port")),  # --port alone: the JID's domain on that port
])
def test_server_and_port_mean_exactly_that(kwargs, expected):
    [target] = fixed_targets(Account(jid=f"me@{D}", **kwargs))
    assert (target.host, target.port, target.direct_tls, target.found) == expected


def test_without_server_or_port_dns_decides():
    assert fixed_targets(Account(jid=f"me@{D}", tls="direct")) is None


def test_ipv6_and_ipv4_alternate_ipv6_first():
    assert interleave(["192.0.2.1", "192.0.2.2", "2001:db8::1", "192.0.2.3", "2001:db8::2"]) == [
        "2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2", "192.0.2.3"]
    assert interleave(["192.0.2.1", "192.0.2.1"]) == ["192.0.2.1"]


def test_the_error_names_every_attempt_on_one_line():
    tried = Tried(D)
    t = Target("xmpp1.example.org", 5222, False, "SRV")
    tried.add(t, "2001:db8::1", connect_outcome(ConnectionRefusedError()))
    tried.add(t, "192.0.2.1", connect_outcome(TimeoutError()))
    tried.add(Target("xmpp2.example.org", 5223, True, "XEP-0368"), None, "no address: no such name")
    message = tried.failure().message
    assert message == ("example.org: tried xmpp1.example.org:5222 [2001:db8::1] (refused), "
                       "xmpp1.example.org:5222 192.0.2.1 (timed out), xmpp2.example.org:5223 (no address: no such name)")
    assert "\n" not in message


def test_lookup_failures_come_before_the_attempts():
    tried = Tried(D, notes=["SRV lookup of _xmpp-client._tcp.example.org failed (DNS timed out)"])
    tried.add(Target(D, 5222, False, "fallback"), None, "no address: DNS timed out")
    assert tried.failure().message == ("example.org: SRV lookup of _xmpp-client._tcp.example.org failed (DNS timed out); "
                                       "tried example.org:5222 (no address: DNS timed out)")


def test_labels_of_address_targets_are_not_repeated():
    assert attempt_label(Target("127.0.0.1", 5222, False, "--server"), "127.0.0.1") == "127.0.0.1:5222"
    assert attempt_label(Target("::1", 5223, True, "--server"), "::1") == "[::1]:5223"


def test_outcomes_in_a_word():
    assert connect_outcome(OSError(101, "Network is unreachable")) == "network is unreachable"
    assert connect_outcome(ssl.SSLError(1, "WRONG_VERSION_NUMBER")).startswith("TLS handshake failed")
