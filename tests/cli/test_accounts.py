"""The account lifecycle and where passwords come from, at the CLI (no server needed).

Commands that need a login run the real login with the connection replaced (``logins``): a
password problem must be found before any connection is opened.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

import pytest


@pytest.fixture
def cfg(tmp_path):
    return tmp_path / "c.toml"


@pytest.fixture
def logins(monkeypatch) -> list[str]:
    """The JIDs xmppctl opened a connection for (each then gets a fake session, not a socket)."""
    from tests.support.fakes import FakeSession
    from xmppctl.xmpp import session as session_module

    opened: list[str] = []

    @asynccontextmanager
    async def open_session(account, password, **kwargs):
        opened.append(account.jid)
        yield FakeSession(bare_jid=account.jid)

    monkeypatch.setattr(session_module, "open_session", open_session)
    return opened


def account(run_cli, cfg, *args, **kw):
    return run_cli(None, "--config", str(cfg), "account", *args, **kw)


def test_missing_config_file_is_named(run_cli, tmp_path):
    missing = tmp_path / "nonexistent.toml"
    r = run_cli(None, "--config", str(missing), "roster", "list")
    assert r.code == 2
    assert r.stderr == (f"xmppctl: no account: config file {missing} does not exist (given with --config or "
                        "XMPPCTL_CONFIG); pass --jid or --account, set XMPPCTL_JID, or add one with 'xmppctl account add'\n")


def test_cron_without_xdg_config_home_names_the_path_under_home(run_cli, tmp_path):
    home = tmp_path / "cronhome"
    r = run_cli(None, "roster", "list", env={"XDG_CONFIG_HOME": None, "HOME": str(home)})
    assert r.code == 2
    assert (f"config file {home}/.config/xmppctl/config.toml does not exist (the default: XDG_CONFIG_HOME is unset, "
            f"HOME={home})") in r.stderr


def _with_command(run_cli, cfg, command):
    r = account(run_cli, cfg, "add", "work", "--jid", "me@localhost", "--password-command", command)
    assert r.code == 0, r.stderr


def test_failing_password_command_exits_2_with_its_stderr(run_cli, cfg, logins):
    _with_command(run_cli, cfg, "sh -c 'echo \"gpg: decryption failed: No secret key\" >&2; exit 2'")
    r = run_cli(None, "--config", str(cfg), "roster", "list")
    assert r.code == 2, r.stderr
    assert "password_command of account 'work'" in r.stderr and "exited with status 2" in r.stderr
    assert r.stderr.rstrip().endswith(": gpg: decryption failed: No secret key")
    assert logins == []


def test_a_password_command_that_prints_the_password_logs_in(run_cli, cfg, logins):
    _with_command(run_cli, cfg, "echo secret")
    r = run_cli(None, "--config", str(cfg), "roster", "list", "-o", "json")
    assert (r.code, r.stdout, logins) == (0, "[]\n", ["me@localhost"]), r.stderr


def test_password_command_printing_nothing_exits_2(run_cli, cfg, logins):
    _with_command(run_cli, cfg, "true")
    r = run_cli(None, "--config", str(cfg), "roster", "list", "-o", "json")
    assert r.code == 2
    assert r.error()["message"] == "password_command of account 'work': true printed no password (nothing on stderr)"
    assert logins == []


def test_add_writes_password_command_as_a_list(run_cli, cfg):
    r = account(run_cli, cfg, "add", "w", "--jid", "a@b.org", "--password-command", "pass show 'xmpp/admin key'")
    assert r.code == 0, r.stderr
    import tomllib

    assert tomllib.loads(cfg.read_text())["accounts"]["w"]["password_command"] == ["pass", "show", "xmpp/admin key"]
    r = account(run_cli, cfg, "add", "x", "--jid", "a@b.org", "--password-command", "pass show 'unbalanced")
    assert r.code == 2 and "--password-command: cannot split" in r.stderr


def test_add_refuses_to_replace_an_account_without_force(run_cli, cfg):
    assert account(run_cli, cfg, "add", "work", "--jid", "a@b.org", "--password-command", "pass show x").code == 0
    before = cfg.read_text()
    r = account(run_cli, cfg, "add", "work", "--jid", "b@b.org")
    assert r.code == 2 and "already exists" in r.stderr and "it would drop password_command" in r.stderr
    assert cfg.read_text() == before
    r = account(run_cli, cfg, "add", "work", "--jid", "b@b.org", "--force")
    assert r.code == 0, r.stderr
    assert r.stderr == (f"account 'work' replaced in {cfg}: jid \"a@b.org\" -> \"b@b.org\"; "
                        "password_command dropped (was [\"pass\", \"show\", \"x\"])\n")


def test_remove_refuses_the_default_account_without_force(run_cli, cfg):
    for name in ("work", "home", "lab"):
        assert account(run_cli, cfg, "add", name, "--jid", f"{name}@b.org").code == 0
    r = account(run_cli, cfg, "remove", "work")
    assert r.code == 2 and "'work' is the default account" in r.stderr and "--force" in r.stderr
    assert account(run_cli, cfg, "list", "-o", "json").json()[2]["default"] is True
    r = account(run_cli, cfg, "remove", "work", "--force")
    assert r.code == 0
    assert "it was the default account: now no default is set" in r.stderr
    assert [a["default"] for a in account(run_cli, cfg, "list", "-o", "json").json()] == [False, False]
    assert account(run_cli, cfg, "remove", "lab").code == 0  # not the default: no --force needed


def test_set_changes_single_keys_and_says_what_changed(run_cli, cfg):
    assert account(run_cli, cfg, "add", "work", "--jid", "a@b.org", "--server", "h.example",
                   "--password-command", "pass show x").code == 0
    r = account(run_cli, cfg, "set", "work", "--port", "5223", "--tls", "direct", "--unset", "server")
    assert r.code == 0, r.stderr
    assert r.stderr == (f"account 'work' updated in {cfg}: server dropped (was \"h.example\"); port set to 5223; "
                        "tls set to \"direct\"\n")
    shown = account(run_cli, cfg, "show", "work", "-o", "json").json()
    assert (shown["server"], shown["port"], shown["tls"], shown["password_command"]) == (None, 5223, "direct", ["pass", "show", "x"])


@pytest.mark.parametrize("args,message", [
    (("--tls", "plain"), "--tls: expected one of starttls, direct, got 'plain'"),
    (("--default-output", "yaml"), "--default-output: expected one of"),
    (("--jid", "not a jid"), "JID"),
    (("--unset", "jid"), "every account needs a jid"),
    ((), "nothing to change"),
])
def test_set_validates_like_add_and_writes_nothing_on_error(run_cli, cfg, args, message):
    assert account(run_cli, cfg, "add", "work", "--jid", "a@b.org").code == 0
    before = cfg.read_text()
    r = account(run_cli, cfg, "set", "work", *args)
    assert r.code == 2 and message in r.stderr, r.stderr
    assert cfg.read_text() == before


def test_set_unknown_account_is_usage_error(run_cli, cfg):
    r = account(run_cli, cfg, "set", "nope", "--port", "5222")
    assert r.code == 2 and "no account named 'nope'" in r.stderr and not cfg.exists()


def test_show_names_the_password_source_and_never_the_password(run_cli, cfg):
    r = run_cli(None, "--config", str(cfg), "--password-stdin", "account", "add", "work", "--jid", "a@b.org",
                "--store-password", stdin="s3cret-stored\n")
    assert r.code == 0, r.stderr
    shown = account(run_cli, cfg, "show", "work", "-o", "json").json()
    assert (shown["password_source"], shown["password_stored"], shown["password_env"]) == (
        "the password stored in the config file for account 'work'", True, "XMPPCTL_PASSWORD_WORK")
    r = account(run_cli, cfg, "show", "-o", "json", env={"XMPPCTL_PASSWORD": "s3cret-env", "XMPPCTL_SERVER": "elsewhere"})
    shown = r.json()
    assert (shown["name"], shown["password_source"], shown["password_overrides"], shown["overridden"]) == (
        "work", "XMPPCTL_PASSWORD", "the password stored in the config file for account 'work'", ["server"])
    for fmt in ("table", "json", "csv"):
        r = account(run_cli, cfg, "show", "work", "-o", fmt, env={"XMPPCTL_PASSWORD": "s3cret-env"})
        assert r.code == 0 and "s3cret" not in r.stdout + r.stderr


def test_show_unknown_account_names_the_file(run_cli, cfg):
    assert account(run_cli, cfg, "add", "work", "--jid", "a@b.org").code == 0
    r = account(run_cli, cfg, "show", "nope")
    assert r.code == 2 and r.stderr == f"xmppctl: no account named 'nope': config file {cfg} has accounts work\n"


def test_stored_password_in_a_readable_file_is_warned_about(run_cli, cfg):
    r = run_cli(None, "--config", str(cfg), "account", "add", "work", "--jid", "a@b.org", "--store-password",
                env={"XMPPCTL_PASSWORD": "s3cret"})
    assert r.code == 0, r.stderr
    assert "warning" not in account(run_cli, cfg, "list").stderr
    os.chmod(cfg, 0o644)
    r = account(run_cli, cfg, "list", "-o", "json")
    assert r.code == 0
    assert r.stderr == (f"xmppctl: warning: {cfg} stores a password (account 'work') and is readable by others "
                        f"(mode 0644): run chmod 600 {cfg}\n")


def test_store_password_reads_the_accounts_own_variable(run_cli, cfg):
    r = account(run_cli, cfg, "add", "my-lab", "--jid", "a@b.org", "--store-password",
                env={"XMPPCTL_PASSWORD_MY_LAB": "own-secret"})
    assert r.code == 0, r.stderr
    assert 'password = "own-secret"' in cfg.read_text()
