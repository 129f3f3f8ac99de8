"""CLI surface without a server: version, usage errors, JSON errors."""

from __future__ import annotations

from xmppctl import __version__


def test_version(run_cli):
    r = run_cli(None, "--version")
    assert (r.code, r.stdout.strip()) == (0, f"xmppctl {__version__}")


def test_unknown_command_is_usage_error(run_cli):
    r = run_cli(None, "roster", "lst")
    assert r.code == 2 and "No such command" in r.stderr


def test_unknown_option_json_error(run_cli):
    r = run_cli(None, "roster", "list", "-o", "json", "--bogus")
    assert r.code == 2
    assert r.error()["error"] == "usage" and r.error()["exit"] == 2


def test_bad_output_format_is_usage_error(run_cli):
    r = run_cli(None, "roster", "list", "-o", "xml")
    assert r.code == 2


def test_there_is_no_password_option(run_cli):
    r = run_cli(None, "--password", "secret", "roster", "list")
    assert r.code == 2 and "No such option" in r.stderr


def test_group_without_command_prints_help_and_exits_2(run_cli):
    r = run_cli(None, "roster")
    assert r.code == 2 and "Usage:" in r.stderr


def test_account_add_list_remove(run_cli, tmp_path):
    cfg = tmp_path / "c.toml"
    r = run_cli(None, "--config", str(cfg), "account", "add", "work", "--jid", "Admin@Example.org", "--port", "5223", "--tls", "direct")
    assert r.code == 0, r.stderr
    r = run_cli(None, "--config", str(cfg), "account", "list", "-o", "json")
    assert r.json() == [{"name": "work", "jid": "admin@example.org", "server": None, "port": 5223, "tls": "direct",
                         "default": True, "password_source": "env/stdin/keyring"}]
    assert "password" not in cfg.read_text()
    r = run_cli(None, "--config", str(cfg), "account", "remove", "work", "--force")  # the default account
    assert r.code == 0
    assert run_cli(None, "--config", str(cfg), "account", "list", "-o", "json").json() == []


def test_account_add_store_password_only_when_asked(run_cli, tmp_path):
    cfg = tmp_path / "c.toml"
    r = run_cli(None, "--config", str(cfg), "--password-stdin", "account", "add", "w", "--jid", "a@b.org", "--store-password", stdin="s3cret\n")
    assert r.code == 0, r.stderr
    assert 'password = "s3cret"' in cfg.read_text()


def test_account_add_bad_tls_is_usage_error(run_cli, tmp_path):
    cfg = tmp_path / "c.toml"
    r = run_cli(None, "--config", str(cfg), "account", "add", "w", "--jid", "a@b.org", "--tls", "plain")
    assert r.code == 2 and not cfg.exists()
