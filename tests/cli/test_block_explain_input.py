"""block and presence explain validate their input before connecting: exit 2, one line.

The account points at a port where nothing listens: a command that got as far as connecting
would exit 4, so exit 2 proves nothing was sent.
"""

from __future__ import annotations

import pytest

from tests.cli.test_input_validation import nowhere  # noqa: F401  (a fixture: a port that refuses connections)


PW = {"XMPPCTL_PASSWORD": "pw"}


@pytest.mark.parametrize("args, message", [
    (("block", "add", "ok@x.org", "bad jid@x.org"), "invalid JID 'bad jid@x.org'"),
    (("block", "add", "me@localhost"), "your own JID"),
    (("block", "add", "me@localhost/phone"), "your own JID"),
    (("block", "add", "localhost"), "your own server"),
    (("block", "remove", "a@"), "invalid JID 'a@'"),
    (("block", "remove"), "name at least one JID, or use --all"),
    (("block", "remove", "--all", "a@x.org"), "--all cannot be combined with JIDs"),
    (("presence", "explain", "bob@x.org/phone"), "a bare JID"),
    (("presence", "explain", "me@localhost"), "your own JID"),
    (("presence", "explain", "bob@x.org", "--peer-account", "nobody"), "no account named 'nobody'"),
])
def test_bad_input_is_exit_2_before_connecting(run_cli, nowhere, args, message):
    r = run_cli(None, *nowhere, *args, "-o", "json", env=PW)
    assert r.code == 2, r.stderr
    assert message in r.error()["message"]
    assert r.stdout == ""


def test_domain_and_full_jids_pass_validation_and_reach_the_network(run_cli, nowhere):
    r = run_cli(None, *nowhere, "block", "add", "spam.example", "x@y.example/res", env=PW)
    assert r.code == 4, r.stderr  # got as far as connecting: the JIDs were accepted


def test_peer_account_must_be_the_contacts_account(run_cli, nowhere, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[accounts.carol]\njid = "carol@x.org"\npassword = "pw"\n'
                   '[accounts.me]\njid = "me@localhost"\npassword = "pw"\n')
    r = run_cli(None, "--config", str(cfg), *nowhere, "presence", "explain", "bob@x.org", "--peer-account", "carol",
                env=PW)
    assert r.code == 2 and "--peer-account carol is carol@x.org, not bob@x.org" in r.stderr


def test_peer_account_without_a_password_in_the_config_is_exit_2_even_with_xmppctl_password(run_cli, nowhere, tmp_path):
    """XMPPCTL_PASSWORD is the main account's: the peer's password comes from the config only."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[accounts.bob]\njid = "bob@x.org"\n')
    r = run_cli(None, "--config", str(cfg), *nowhere, "presence", "explain", "bob@x.org", "--peer-account", "bob",
                env={**PW, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    assert r.code == 2 and "no password for bob@x.org" in r.stderr
