"""Finding the server by DNS (RFC 6120 §3.2, XEP-0368), against a real DNS server and Prosody.

The scenario (tests/support/dns_scenario.py) runs in a private mount and network namespace with
its own authoritative DNS server for example.test; it runs every case once (one Prosody, or one
ejabberd, for all) and this test checks them all, naming every case that went wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.netns import run_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "support" / "dns_scenario.py"


def _facts(result: dict) -> dict:
    return json.loads(result["stdout"]) if result["code"] == 0 else {}


def _problems(results: dict[str, dict]) -> list[str]:
    """What went wrong, case by case (empty when every case behaved)."""
    def logged_in(case: str, server: str, found: str, tls: str, address: str = "127.0.0.1") -> list[str]:
        r = results[case]
        facts = _facts(r)
        got = {k: facts.get(k) for k in ("server", "found", "tls_mode", "address")}
        want = {"server": server, "found": found, "tls_mode": tls, "address": address}
        return [] if got == want else [f"{case}: exit {r['code']}, {got} != {want}; {r['stderr'][-500:]}"]

    def failed(case: str, *needles: str, tried: list[str] | None = None) -> list[str]:
        r = results[case]
        error = json.loads(r["stderr"].strip().splitlines()[-1]) if r["stderr"].strip() else {}
        message = error.get("message", "")
        if r["code"] != 4 or not all(n in message for n in needles):
            return [f"{case}: exit {r['code']}, message {message!r} lacks one of {needles}"]
        if tried is not None and (error.get("details") or {}).get("tried") != tried:
            return [f"{case}: details {error.get('details')!r}, expected tried={tried}"]
        return []

    def order(case: str, *attempts: str) -> list[str]:
        lines = [line for line in results[case]["stderr"].splitlines() if "xmppctl.xmpp.session: connecting to " in line]
        tried = [line.partition("connecting to ")[2].partition(" (")[0] for line in lines]
        return [] if tried == list(attempts) else [f"{case}: tried {tried}, expected {list(attempts)}"]

    def logged(*expected: tuple[str, str]) -> list[str]:
        return [f"{case}: {line!r} not in the --debug trace" for case, line in expected if line not in results[case]["stderr"]]

    d = "example.test"
    return [
        *logged_in("srv-starttls", f"xmpp.{d}:5222", "SRV", "starttls"),
        *logged_in("srv-both-direct-preferred", f"xmpp.{d}:5223", "XEP-0368", "direct"),
        *logged_in("srv-both-tls-starttls", f"xmpp.{d}:5222", "SRV", "starttls"),
        *logged_in("only-xmpps", f"xmpp.{d}:5223", "XEP-0368", "direct"),
        *logged_in("first-target-down", f"xmpp.{d}:5222", "SRV", "starttls"),
        *order("first-target-down", f"down.{d}:5222 127.0.0.3", f"xmpp.{d}:5222 127.0.0.1"),
        *logged_in("first-target-silent", f"xmpp.{d}:5222", "SRV", "starttls"),
        *order("first-target-silent", f"silent.{d}:5222 127.0.0.5", f"xmpp.{d}:5222 127.0.0.1"),
        *logged(("first-target-silent", f"no connection: silent.{d}:5222 127.0.0.5 (timed out)"),
                ("aaaa-refused-a-works", f"no connection: dual.{d}:5222 [::1] (refused)")),
        *logged_in("aaaa-refused-a-works", f"dual.{d}:5222", "SRV", "starttls"),
        *order("aaaa-refused-a-works", f"dual.{d}:5222 [::1]", f"dual.{d}:5222 127.0.0.1"),
        *logged_in("no-srv-fallback", f"{d}:5222", "fallback", "starttls"),
        *failed("all-down", f"{d}: tried down.{d}:5222 127.0.0.3 (refused), down.{d}:5223 127.0.0.3 (refused)",
                tried=[f"down.{d}:5222 127.0.0.3 (refused)", f"down.{d}:5223 127.0.0.3 (refused)"]),
        *failed("srv-dot", "not available"),
        *failed("srv-servfail", f"{d}: SRV lookup of _xmpp-client._tcp.{d} failed (DNS server failure); "
                                f"SRV lookup of _xmpps-client._tcp.{d} failed (DNS server failure); tried {d}:5222 (no address"),
        # a wrong certificate ends the login: the working target of priority 10 is not tried
        *failed("wrong-cert-target", f"wrong.{d}:5223 127.0.0.4", "not trusted", "not valid for 'example.test'"),
    ]


@pytest.mark.parametrize("kind", ["prosody", "ejabberd"])
def test_server_is_found_as_dns_publishes_it(kind, tmp_path):
    results = run_scenario(SCENARIO, kind, str(tmp_path), servers=(kind,), kind=kind)
    assert _problems(results) == []
