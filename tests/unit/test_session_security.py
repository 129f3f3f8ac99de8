"""Pure pieces of the session's security checks: loopback addresses, the SCRAM client patches."""

from __future__ import annotations

import random

import pytest

from xmppctl.xmpp.session import SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS, _patch_scram, is_loopback_address


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1"])
def test_loopback_addresses(address):
    assert is_loopback_address(address)


@pytest.mark.parametrize("address", ["192.0.2.2", "10.0.0.1", "::ffff:10.0.0.1", "fe80::1%eth0", "localhost", ""])
def test_not_loopback_addresses(address):
    assert not is_loopback_address(address)


def _scram(refused: list[str] | None = None):
    from slixmpp.util.sasl.mechanisms import SCRAM

    _patch_scram()
    credentials = {"username": b"user", "password": b"pencil", "authzid": b"", "channel_binding": b""}
    security = {"encrypted": True, "unencrypted_scram": False, "tls_version": "TLSv1.3", "binding_proposed": False,
                "xmppctl_refuse": (refused.append if refused is not None else None)}
    return SCRAM("SCRAM-SHA-1", credentials, security)


def _nonce(client_first: bytes) -> bytes:
    return client_first.rpartition(b",r=")[2]


def test_scram_client_nonce_is_not_derived_from_random():
    # slixmpp's own nonce is the digits of random.random(): the same seed, the same nonce
    random.seed(7)
    first = _scram().process()
    random.seed(7)
    second = _scram().process()
    assert first.startswith(b"y,,n=user,r=")
    assert _nonce(first) != _nonce(second)
    assert len(_nonce(first)) >= 32 and b"," not in _nonce(first)


@pytest.mark.parametrize("iterations", [SCRAM_MIN_ITERATIONS - 1, SCRAM_MAX_ITERATIONS + 1, 0, -1])
def test_scram_iteration_count_outside_the_bounds_is_refused_and_reported(iterations):
    from slixmpp.util.sasl.client import SASLCancelled

    refused: list[str] = []
    with pytest.raises(SASLCancelled):
        _scram(refused).Hi(b"pencil", b"salt", iterations)
    assert refused == [f"the server asked for {iterations} SCRAM iterations; refusing "
                       f"(accepted: {SCRAM_MIN_ITERATIONS}..{SCRAM_MAX_ITERATIONS})"]


def test_scram_hi_is_pbkdf2():
    import hashlib

    assert _scram().Hi(b"pencil", b"salt", 4096) == hashlib.pbkdf2_hmac("sha1", b"pencil", b"salt", 4096)
