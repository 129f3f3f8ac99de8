"""Config parsing and precedence (pure: no server)."""

from __future__ import annotations

import os
import stat

import pytest

from xmppctl.config import DEFAULT_TIMEOUT, add_account, load_config, read_password, remove_account, resolve_account
from xmppctl.errors import AuthError, UsageError


def write(tmp_path, text):
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


CONFIG = """
default_account = "work"
[accounts.work]
jid = "admin@example.org"
server = "xmpp.example.org"
port = 5223
tls = "direct"
timeout = 3
output = "json"
[accounts.home]
jid = "me@home.example"
password_command = "pass show xmpp"
"""


def test_default_account_is_used(tmp_path):
    acc = resolve_account(load_config(write(tmp_path, CONFIG)), env={})
    assert (acc.name, acc.jid, acc.server, acc.port, acc.tls, acc.timeout, acc.output) == (
        "work", "admin@example.org", "xmpp.example.org", 5223, "direct", 3.0, "json")


def test_options_beat_env_beat_config(tmp_path):
    cfg = load_config(write(tmp_path, CONFIG))
    env = {"XMPPCTL_ACCOUNT": "work", "XMPPCTL_SERVER": "env.example", "XMPPCTL_TIMEOUT": "7"}
    acc = resolve_account(cfg, env=env)
    assert (acc.server, acc.timeout) == ("env.example", 7.0)
    acc = resolve_account(cfg, server="cli.example", timeout=1.5, env=env)
    assert (acc.server, acc.timeout) == ("cli.example", 1.5)


def test_env_account_selects_account(tmp_path):
    acc = resolve_account(load_config(write(tmp_path, CONFIG)), env={"XMPPCTL_ACCOUNT": "home"})
    assert acc.jid == "me@home.example" and acc.password_command == ["pass", "show", "xmpp"]
    assert acc.timeout == DEFAULT_TIMEOUT and acc.tls == "starttls"


def test_jid_without_account_is_ad_hoc_and_ignores_default(tmp_path):
    acc = resolve_account(load_config(write(tmp_path, CONFIG)), jid="Other@Example.COM", env={})
    assert acc.name is None and acc.jid == "other@example.com" and acc.server is None


def test_env_jid(tmp_path):
    acc = resolve_account(load_config(tmp_path / "missing.toml"), env={"XMPPCTL_JID": "x@y.example"})
    assert acc.jid == "x@y.example"


def test_no_account_anywhere_is_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no account"):
        resolve_account(load_config(tmp_path / "missing.toml"), env={})


def test_unknown_account_names_the_file(tmp_path):
    path = write(tmp_path, CONFIG)
    with pytest.raises(UsageError, match="no account named 'nope'") as e:
        resolve_account(load_config(path), account="nope", env={})
    assert str(path) in e.value.message


@pytest.mark.parametrize("text,key", [
    ('[accounts.a]\njid = "a@b.c"\ntls = "none"\n', "accounts.a.tls"),
    ('[accounts.a]\njid = "a@b.c"\nport = 0\n', "accounts.a.port"),
    ('[accounts.a]\njid = "a@b.c"\ncolour = "red"\n', "accounts.a.colour"),
    ('[accounts.a]\nserver = "x"\n', "accounts.a.jid"),
    ('[accounts.a]\njid = "not a jid"\n', "accounts.a.jid"),
    ('[accounts.a]\njid = "a@b.c"\ntimeout = -1\n', "accounts.a.timeout"),
    ('[accounts.a]\njid = "a@b.c"\ninsecure = "yes"\n', "accounts.a.insecure"),
    ('default_account = "zzz"\n[accounts.a]\njid = "a@b.c"\n', "default_account"),
    ('verbose = true\n', "verbose"),
])
def test_bad_config_names_file_and_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as e:
        load_config(path)
    assert f"{path}: {key}" in e.value.message


def test_password_sources_in_order(tmp_path):
    import io

    acc = resolve_account(load_config(write(tmp_path, CONFIG)), account="home", env={})
    acc.password_command = ["printf", "from-command\\nignored\\n"]
    assert read_password(acc, password_stdin=True, stdin=io.StringIO("from-stdin\n"), env={"XMPPCTL_PASSWORD": "e"}) == "from-stdin"
    assert read_password(acc, env={"XMPPCTL_PASSWORD": "from-env"}) == "from-env"
    assert read_password(acc, env={}) == "from-command"
    acc.password_command = None
    acc.password = "stored"
    assert read_password(acc, env={}) == "stored"


def test_failing_password_command_is_auth_error(tmp_path):
    acc = resolve_account(load_config(write(tmp_path, CONFIG)), account="home", env={})
    acc.password_command = ["false"]
    with pytest.raises(AuthError, match="exited with status 1"):
        read_password(acc, env={})


def test_add_account_writes_0600_without_password(tmp_path):
    path = tmp_path / "sub" / "config.toml"
    add_account(path, "w", {"jid": "a@b.example", "port": 5222, "server": None})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    cfg = load_config(path)
    assert cfg.default_account == "w" and cfg.accounts["w"] == {"jid": "a@b.example", "port": 5222}
    add_account(path, "x", {"jid": "x@b.example"}, make_default=True)
    assert load_config(path).default_account == "x"
    remove_account(path, "x")
    cfg = load_config(path)
    assert cfg.default_account == "w" and list(cfg.accounts) == ["w"]


def test_add_account_validates_before_writing(tmp_path):
    path = tmp_path / "config.toml"
    with pytest.raises(UsageError):
        add_account(path, "w", {"jid": "a@b.example", "tls": "plain"})
    assert not path.exists()
