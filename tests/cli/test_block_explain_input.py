"""block and presence explain validate their input before connecting: exit 2, one line, and the
(fake) session is never opened; input that passes reaches it as given."""

from __future__ import annotations

import pytest

from tests.cli.test_input_validation import against_fake, assert_nothing_sent  # noqa: F401  (against_fake is a fixture)


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
def test_bad_input_is_exit_2_before_connecting(against_fake, args, message):
    r, fake = against_fake(*args, "-o", "json")
    assert r.code == 2, r.stderr
    assert message in r.error()["message"]
    assert r.stdout == ""
    assert_nothing_sent(fake)


def test_domain_and_full_jids_pass_validation_and_are_blocked_as_given(against_fake):
    r, fake = against_fake("block", "add", "spam.example", "x@y.example/res")
    assert r.code == 0, r.stderr
    assert sorted(fake.sent) == [("block", ["spam.example"]), ("block", ["x@y.example/res"])]


def test_peer_account_must_be_the_contacts_account(against_fake, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[accounts.carol]\njid = "carol@x.org"\npassword = "pw"\n'
                   '[accounts.me]\njid = "me@localhost"\npassword = "pw"\n')
    r, fake = against_fake("presence", "explain", "bob@x.org", "--peer-account", "carol",
                           prefix=("--config", str(cfg), "--jid", "me@localhost"))
    assert r.code == 2 and "--peer-account carol is carol@x.org, not bob@x.org" in r.stderr
    assert_nothing_sent(fake)


def test_peer_account_without_a_password_in_the_config_is_exit_2_even_with_xmppctl_password(against_fake, tmp_path,
                                                                                           monkeypatch):
    """XMPPCTL_PASSWORD is the main account's: the peer's password comes from the config only."""
    monkeypatch.setenv("XMPPCTL_PASSWORD", "pw")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[accounts.bob]\njid = "bob@x.org"\n')
    r, fake = against_fake("presence", "explain", "bob@x.org", "--peer-account", "bob",
                           prefix=("--config", str(cfg), "--jid", "me@localhost"))
    assert r.code == 2 and "no password for bob@x.org" in r.stderr
    assert_nothing_sent(fake)


def test_the_peer_accounts_session_comes_from_the_commands_session_factory(cli, tmp_path):
    """--peer-account logs in through the same seam as every command, so it runs against fakes:
    the contact's roster (approved us, our request pending) shows in the report's peer side."""
    from tests.support.fakes import FakeSession
    from xmppctl.roster.items import RosterItem

    cfg = tmp_path / "c.toml"
    cfg.write_text('[accounts.me]\njid = "me@x.org"\npassword = "pw"\n[accounts.bob]\njid = "bob@x.org"\npassword = "pw"\n')
    fakes = {"me": FakeSession.with_roster(RosterItem("bob@x.org", "Bob", "to"), bare_jid="me@x.org"),
             "bob": FakeSession.with_roster(RosterItem("me@x.org", "Me", "from"), bare_jid="bob@x.org")}
    r = cli(["--config", str(cfg), "-a", "me", "--timeout", "0.3", "presence", "explain", "bob@x.org", "--peer-account", "bob",
             "-o", "json"],
            session_factory=lambda st, **kw: fakes[st.account].factory(st, **kw))
    assert r.code == 0, r.stderr
    peer = r.json()["peer"]
    assert (peer["account"], peer["in_roster"], peer["subscription"]) == ("bob@x.org", True, "from")
    assert fakes["bob"].opened, "the peer's session is the fake's"
