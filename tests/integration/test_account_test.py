"""``account test`` against the real servers, and authentication failures that name the password's source."""

from __future__ import annotations

import pytest


def _config(tmp_path, user, extra: str = "") -> str:
    path = tmp_path / "config.toml"
    path.write_text(
        f'default_account = "t"\n[accounts.t]\njid = "{user.jid}"\nserver = "127.0.0.1"\nport = {user.server.port}\n'
        f'ca_file = "{user.server.ca_file}"\n{extra}'
    )
    return str(path)


def _command_printing(password: str) -> str:
    """A password_command line for the config that prints *password* (token_urlsafe: TOML-safe)."""
    return f'password_command = ["printf", "%s\\\\n", "{password}"]\n'


def test_account_test_reports_server_tls_sasl_and_password_source(make_user, run_cli, tmp_path):
    user = make_user()
    config = _config(tmp_path, user, _command_printing(user.password))
    r = run_cli(None, "--config", config, "account", "test", "t", "-o", "json")
    assert r.code == 0, r.stderr
    facts = r.json()
    assert facts["name"] == "t" and facts["jid"] == user.jid
    assert facts["bound_jid"].startswith(user.jid + "/xmppctl-")
    assert facts["server"] == f"127.0.0.1:{user.server.port}" and facts["address"] == "127.0.0.1"
    assert (facts["found"], facts["tls_mode"]) == ("--server", "starttls")
    assert facts["tls_version"] in ("TLSv1.2", "TLSv1.3") and facts["tls_cipher"]
    assert facts["sasl_mechanism"].startswith("SCRAM-")
    assert facts["password_source"] == "password from password_command of account 't'"
    expected = {"prosody": "Prosody", "ejabberd": "ejabberd"}[user.server.kind]
    assert facts["server_software"].startswith(expected)


def test_account_test_as_a_table(make_user, run_cli, tmp_path):
    user = make_user()
    config = _config(tmp_path, user)
    r = run_cli(user, "--config", config, "account", "test", "-o", "table")
    assert r.code == 0, r.stderr
    assert "sasl_mechanism" in r.stdout and "password from XMPPCTL_PASSWORD" in r.stdout


@pytest.mark.parametrize("output", ["table", "json"])
def test_wrong_password_from_the_environment_is_named_in_the_auth_error(make_user, run_cli, tmp_path, output):
    # XMPPCTL_PASSWORD (stale) beats the account's working password_command: the failure says so
    user = make_user()
    config = _config(tmp_path, user, _command_printing(user.password))
    r = run_cli(None, "--config", config, "account", "test", "-o", output, env={"XMPPCTL_PASSWORD": "stale-pw"})
    assert r.code == 3, r.stderr
    source = "password from XMPPCTL_PASSWORD, which overrides password_command of account 't'"
    if output == "json":
        error = r.error()
        assert error["error"] == "auth" and error["message"].endswith(f"({source})")
        assert error["details"] == {"password_source": "XMPPCTL_PASSWORD"}
    else:
        assert r.stderr.startswith(f"xmppctl: authentication failed for {user.jid}") and f"({source})" in r.stderr


def test_accounts_own_variable_beats_the_general_one(make_user, run_cli, tmp_path):
    user = make_user()
    config = _config(tmp_path, user)
    r = run_cli(None, "--config", config, "roster", "list", "-o", "json",
                env={"XMPPCTL_PASSWORD": "stale-pw", "XMPPCTL_PASSWORD_T": user.password})
    assert r.code == 0, r.stderr
    r = run_cli(None, "--config", config, "roster", "list", "-o", "json",
                env={"XMPPCTL_PASSWORD": user.password, "XMPPCTL_PASSWORD_T": "stale-pw"})
    assert r.code == 3 and r.error()["message"].endswith("(password from XMPPCTL_PASSWORD_T)")


def test_account_test_cannot_connect_exits_4(make_user, run_cli, tmp_path):
    from tests.support import free_port

    user = make_user()
    config = _config(tmp_path, user)
    r = run_cli(user, "--config", config, "--port", str(free_port()), "account", "test", "t")
    assert r.code == 4, r.stderr
