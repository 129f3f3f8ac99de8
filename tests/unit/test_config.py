"""Config parsing and precedence (pure: no server)."""

from __future__ import annotations

import os
import stat

import pytest

from xmppctl.config import (
    DEFAULT_TIMEOUT,
    add_account,
    config_path_origin,
    exposed_password_warning,
    load_config,
    password_env_var,
    password_source,
    read_password,
    read_password_and_source,
    remove_account,
    resolve_account,
    update_account,
)
from xmppctl.errors import UsageError


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


@pytest.mark.parametrize("tls, env, chosen", [(None, {}, False), ("starttls", {}, True),
                                              (None, {"XMPPCTL_TLS": "starttls"}, True), ("direct", {}, True)])
def test_a_tls_mode_set_anywhere_is_chosen_the_default_is_not(tmp_path, tls, env, chosen):
    # an explicit starttls puts STARTTLS SRV targets first at equal priority (xmppctl.xmpp.connect)
    acc = resolve_account(load_config(write(tmp_path, CONFIG)), jid="a@b.example", tls=tls, env=env)
    assert acc.tls_chosen is chosen and acc.tls == (tls or env.get("XMPPCTL_TLS") or "starttls")


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


def test_failing_password_command_is_a_config_error_quoting_its_stderr(tmp_path):
    acc = resolve_account(load_config(write(tmp_path, CONFIG)), account="home", env={})
    acc.password_command = ["sh", "-c", "echo 'gpg: decryption failed' >&2; echo 'No secret key' >&2; exit 2"]
    with pytest.raises(UsageError) as e:
        read_password(acc, env={})
    assert e.value.exit_code == 2
    # the program is named, its arguments are not (they may hold a token)
    assert e.value.message == ("password_command of account 'home': sh exited with status 2: "
                               "gpg: decryption failed | No secret key")


@pytest.mark.parametrize("argv,expected", [
    (["true"], "printed no password (nothing on stderr)"),
    (["sh", "-c", "echo locked >&2"], "printed no password: locked"),
    (["/nonexistent/pw-tool"], "/nonexistent/pw-tool: command not found"),
])
def test_password_command_without_a_password_is_a_config_error(tmp_path, argv, expected):
    acc = resolve_account(load_config(write(tmp_path, CONFIG)), account="home", env={})
    acc.password_command = argv
    with pytest.raises(UsageError) as e:
        read_password(acc, env={})
    assert e.value.message.endswith(expected)


def test_password_command_stderr_is_trimmed_and_escaped(tmp_path):
    acc = resolve_account(load_config(write(tmp_path, CONFIG)), account="home", env={})
    acc.password_command = ["sh", "-c", "printf 'x%.0s' $(seq 1000) >&2; printf '\\033[31mend' >&2; exit 1"]
    with pytest.raises(UsageError) as e:
        read_password(acc, env={})
    assert e.value.message.endswith("\\x1b[31mend") and "\x1b" not in e.value.message
    assert len(e.value.message) < 500


def test_account_password_variable_beats_the_general_one(tmp_path):
    acc = resolve_account(load_config(write(tmp_path, CONFIG)), account="home", env={})
    assert password_env_var("my-home") == "XMPPCTL_PASSWORD_MY_HOME"
    env = {"XMPPCTL_PASSWORD_HOME": "own", "XMPPCTL_PASSWORD": "general"}
    password, source = read_password_and_source(acc, env=env)
    assert (password, source.label) == ("own", "XMPPCTL_PASSWORD_HOME")
    assert source.describe() == "password from XMPPCTL_PASSWORD_HOME, which overrides password_command of account 'home'"
    password, source = read_password_and_source(acc, env={"XMPPCTL_PASSWORD": "general", "XMPPCTL_PASSWORD_WORK": "other"})
    assert (password, source.label) == ("general", "XMPPCTL_PASSWORD")


def test_ad_hoc_account_has_no_own_variable_and_sources_are_named(tmp_path):
    acc = resolve_account(load_config(tmp_path / "missing.toml"), jid="a@b.example", env={})
    assert password_source(acc, env={"XMPPCTL_PASSWORD_": "x"}).kind == "keyring"
    assert password_source(acc, env={}).describe() == "password from the keyring (service 'xmppctl', user 'a@b.example')"
    assert password_source(acc, password_stdin=True, env={"XMPPCTL_PASSWORD": "x"}).describe() == "password from --password-stdin"
    acc.password = "stored"
    assert password_source(acc, env={}).label == "the password stored in the config file for a@b.example"


def test_missing_config_file_is_named_with_why_it_was_looked_for(tmp_path):
    cfg = load_config(tmp_path / "missing.toml", origin=config_path_origin(True))
    with pytest.raises(UsageError) as e:
        resolve_account(cfg, env={})
    assert f"config file {tmp_path / 'missing.toml'} does not exist (given with --config or XMPPCTL_CONFIG)" in e.value.message
    with pytest.raises(UsageError, match="no account named 'work': config file .* does not exist"):
        resolve_account(cfg, account="work", env={})


def test_config_path_origin_names_home_when_xdg_is_unset():
    assert config_path_origin(False, {"HOME": "/"}) == "the default: XDG_CONFIG_HOME is unset, HOME=/"
    assert config_path_origin(False, {}) == "the default: XDG_CONFIG_HOME and HOME are unset"
    assert config_path_origin(False, {"XDG_CONFIG_HOME": "/x", "HOME": "/"}) == "the default under XDG_CONFIG_HOME=/x"


def test_several_accounts_without_default_are_listed(tmp_path):
    path = write(tmp_path, '[accounts.a]\njid = "a@b.c"\n[accounts.b]\njid = "b@b.c"\n')
    with pytest.raises(UsageError, match="has accounts a, b and no default_account"):
        resolve_account(load_config(path), env={})


def test_unsplittable_password_command_string_is_a_config_error(tmp_path):
    path = write(tmp_path, '[accounts.a]\njid = "a@b.c"\npassword_command = "pass show \'xmpp"\n')
    with pytest.raises(UsageError, match="accounts.a.password_command"):
        load_config(path)


def test_add_account_writes_0600_without_password(tmp_path):
    path = tmp_path / "sub" / "config.toml"
    add_account(path, "w", {"jid": "a@b.example", "port": 5222, "server": None})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    cfg = load_config(path)
    assert cfg.default_account == "w" and cfg.accounts["w"] == {"jid": "a@b.example", "port": 5222}
    add_account(path, "x", {"jid": "x@b.example"}, make_default=True)
    assert load_config(path).default_account == "x"
    remove_account(path, "w")
    cfg = load_config(path)
    assert cfg.default_account == "x" and list(cfg.accounts) == ["x"]


def test_add_account_validates_before_writing(tmp_path):
    path = tmp_path / "config.toml"
    with pytest.raises(UsageError):
        add_account(path, "w", {"jid": "a@b.example", "tls": "plain"})
    assert not path.exists()


def test_add_account_refuses_an_existing_name_unless_replacing(tmp_path):
    path = tmp_path / "config.toml"
    add_account(path, "w", {"jid": "a@b.example", "password_command": "pass show x"})
    before = path.read_text()
    with pytest.raises(UsageError, match="already exists .* pass --force to replace it \\(it would drop password_command\\)"):
        add_account(path, "w", {"jid": "a@b.example"})
    assert path.read_text() == before
    change = add_account(path, "w", {"jid": "c@b.example"}, replace=True)
    assert change.changes == ['jid "a@b.example" -> "c@b.example"', 'password_command dropped (was ["pass", "show", "x"])']
    assert change.summary().startswith(f"account 'w' replaced in {path}: jid")


def test_password_command_is_written_as_a_list(tmp_path):
    path = tmp_path / "config.toml"
    add_account(path, "w", {"jid": "a@b.example", "password_command": "pass show 'xmpp admin'"})
    assert load_config(path).accounts["w"]["password_command"] == ["pass", "show", "xmpp admin"]


def test_removing_the_default_account_needs_force_and_leaves_no_default(tmp_path):
    path = tmp_path / "config.toml"
    for name in ("w", "x", "y"):
        add_account(path, name, {"jid": f"{name}@b.example"})
    with pytest.raises(UsageError, match="'w' is the default account .* pass --force"):
        remove_account(path, "w")
    change = remove_account(path, "w", force=True)
    cfg = load_config(path)
    assert cfg.default_account is None and sorted(cfg.accounts) == ["x", "y"]
    assert "it was the default account: now no default is set" in change.summary()
    with pytest.raises(UsageError, match="has accounts x, y and no default_account"):
        resolve_account(cfg, env={})


def test_update_account_changes_only_the_given_keys(tmp_path):
    path = tmp_path / "config.toml"
    add_account(path, "w", {"jid": "a@b.example", "server": "h", "password_command": ["pw"]})
    add_account(path, "x", {"jid": "x@b.example"})
    change = update_account(path, "x", {"port": 5223, "server": None}, unset=["server"], make_default=True)
    assert change.changes == ["port set to 5223"] and "now the default account (was 'w')" in change.summary()
    change = update_account(path, "w", {"tls": "direct"}, unset=["server"])
    assert change.changes == ['server dropped (was "h")', 'tls set to "direct"']
    assert load_config(path).accounts["w"] == {"jid": "a@b.example", "password_command": ["pw"], "tls": "direct"}


@pytest.mark.parametrize("values,unset,message", [
    ({"tls": "plain"}, [], "accounts.w.tls"),
    ({}, ["jid"], "every account needs a jid"),
    ({}, ["colour"], "unknown key"),
    ({"port": 1}, ["port"], "also sets port"),
])
def test_update_account_validates_before_writing(tmp_path, values, unset, message):
    path = tmp_path / "config.toml"
    add_account(path, "w", {"jid": "a@b.example"})
    before = path.read_text()
    with pytest.raises(UsageError, match=message):
        update_account(path, "w", values, unset=unset)
    assert path.read_text() == before


def test_stored_password_in_a_file_others_can_read_is_warned_about(tmp_path):
    path = tmp_path / "config.toml"
    add_account(path, "w", {"jid": "a@b.example", "password": "s3cret"})
    assert exposed_password_warning(load_config(path)) is None
    os.chmod(path, 0o640)
    warning = exposed_password_warning(load_config(path))
    assert warning == f"{path} stores a password (account 'w') and is readable by others (mode 0640): run chmod 600 {path}"
    assert "s3cret" not in warning
    update_account(path, "w", {}, unset=["password"])
    os.chmod(path, 0o644)
    assert exposed_password_warning(load_config(path)) is None
