"""Secrets stay with their account: shared variables, name collisions, slow or odd password
sources, and the --debug redaction over several logins (pure: no server)."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest

from tests.support.helpers import process_gone
from xmppctl import config as config_mod
from xmppctl.config import (
    check_several_accounts_env,
    load_config,
    password_source,
    read_password,
    resolve_account,
)
from xmppctl.errors import TimeoutFailure, UsageError


def _account(tmp_path, **extra):
    path = tmp_path / "config.toml"
    path.write_text('[accounts.home]\njid = "me@example.org"\n')
    acc = resolve_account(load_config(path), account="home", env={})
    for key, value in extra.items():
        setattr(acc, key, value)
    return acc


# ---- one account's variables never reach another -------------------------------------------


@pytest.mark.parametrize("names", [("Bot", "bot"), ("a-b", "a_b"), ("ops-1", "OPS_1")])
def test_account_names_sharing_a_password_variable_are_refused_when_the_config_is_read(tmp_path, names):
    path = tmp_path / "config.toml"
    path.write_text("".join(f'[accounts.{n}]\njid = "{n.lower().replace("_", "-")}@example.org"\n' for n in names))
    with pytest.raises(UsageError) as e:
        load_config(path)
    assert e.value.exit_code == 2
    assert f"accounts {names[0]!r} and {names[1]!r}" in e.value.message
    assert config_mod.password_env_var(names[0]) in e.value.message


@pytest.mark.parametrize("var", ["XMPPCTL_PASSWORD", "XMPPCTL_JID"])
def test_shared_variables_are_refused_for_several_accounts(var):
    with pytest.raises(UsageError) as e:
        check_several_accounts_env("2 accounts are selected", {var: "x", "XMPPCTL_PASSWORD_BOB": "own"})
    assert e.value.exit_code == 2 and e.value.message.startswith(f"{var} is set and 2 accounts are selected")
    assert "\n" not in e.value.message
    check_several_accounts_env("2 accounts are selected", {"XMPPCTL_PASSWORD_BOB": "own", var: ""})


def test_one_of_several_accounts_reads_only_its_own_variable(tmp_path):
    acc = _account(tmp_path, password_command=["printf", "from-command\\n"])
    env = {"XMPPCTL_PASSWORD": "alice-secret", "XMPPCTL_JID": "alice@example.org"}
    assert password_source(acc, env=env, shared_env=False).kind == "command"
    assert read_password(acc, env=env, shared_env=False) == "from-command"
    assert read_password(acc, env={**env, "XMPPCTL_PASSWORD_HOME": "own"}, shared_env=False) == "own"
    cfg = load_config(tmp_path / "config.toml")
    assert resolve_account(cfg, account="home", env=env, shared_env=False).jid == "me@example.org"
    # a single account keeps the documented order
    assert read_password(acc, env=env) == "alice-secret"


# ---- password_command: bounded, killed with its children, named without its arguments ------


def test_password_command_output_that_is_not_utf8_is_a_config_error(tmp_path):
    acc = _account(tmp_path, password_command=["printf", "\\377\\376pw\\n"])
    with pytest.raises(UsageError) as e:
        read_password(acc, env={})
    assert e.value.message == "password_command of account 'home': printf printed a password that is not valid UTF-8"


def test_password_command_past_the_timeout_is_killed_with_its_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    token = "tok-83jd92"
    script = f'sleep 60 & echo $! > {pidfile}; wait; echo late; : {token}'
    acc = _account(tmp_path, password_command=["sh", "-c", script], timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(TimeoutFailure) as e:
        read_password(acc, env={})
    assert time.monotonic() - t0 < 30  # the deadline, not the command's own end
    assert e.value.exit_code == 5
    assert e.value.message.startswith("password_command of account 'home': sh did not finish within 0.5 s")
    assert token not in e.value.message and "sleep" not in e.value.message
    assert process_gone(int(pidfile.read_text())), "the command's own child survived the timeout"


def test_failed_password_command_names_the_program_not_its_arguments(tmp_path):
    acc = _account(tmp_path, password_command=["sh", "-c", "exit 3", "api-token-k2k2"])
    with pytest.raises(UsageError) as e:
        read_password(acc, env={})
    assert e.value.message == "password_command of account 'home': sh exited with status 3 (nothing on stderr)"


def test_a_keyring_that_does_not_answer_is_a_timeout(tmp_path, monkeypatch):
    release = threading.Event()

    def hanging(jid):
        release.wait(30)
        return "too-late"

    monkeypatch.setattr(config_mod, "_keyring_lookup", hanging)
    acc = _account(tmp_path, timeout=0.3)
    try:
        with pytest.raises(TimeoutFailure, match="the keyring did not answer within 0.3 s"):
            read_password(acc, env={})
    finally:
        release.set()


# ---- --debug over several logins -------------------------------------------------------------


def test_debug_trace_redacts_every_account_password_and_tracebacks(monkeypatch):
    from xmppctl.xmpp import session

    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(session, "_REDACTION", session.RedactingFilter([]))
    session.configure_logging(True, "alice-pw-1")
    session.configure_logging(True, "bob-pw-2")  # the second login of a fleet run
    log = logging.getLogger("slixmpp.test")
    log.debug("sent alice-pw-1 and bob-pw-2")
    try:
        raise ValueError("bad password alice-pw-1\x9b31m")
    except ValueError:
        log.exception("failed for bob-pw-2")
    text = stream.getvalue()
    assert "alice-pw-1" not in text and "bob-pw-2" not in text, text
    assert "[redacted]" in text and "ValueError: bad password [redacted]\\x9b31m" in text
    assert "\x9b" not in text
    session.configure_logging(False, None)


def test_account_add_refuses_a_name_that_shares_a_password_variable(tmp_path):
    from xmppctl.config import add_account

    path = tmp_path / "config.toml"
    add_account(path, "bot", {"jid": "bot@example.org"})
    with pytest.raises(UsageError, match="accounts 'bot' and 'Bot' would share the password variable XMPPCTL_PASSWORD_BOT"):
        add_account(path, "Bot", {"jid": "other@example.org"})
    add_account(path, "bot", {"jid": "bot2@example.org"}, replace=True)  # replacing itself is no collision


@pytest.mark.parametrize("steps", range(6))
def test_a_password_command_cancelled_while_it_starts_takes_its_children_along(tmp_path, steps):
    """A signal can land while asyncio is still starting the command, after the command has
    already started a child that holds its pipes: the cancellation must not wait for that child
    (asyncio would, for 60 s here), and the whole process group must go."""
    import asyncio

    pidfile = tmp_path / "child.pid"
    argv = ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"]

    async def scenario() -> float:
        task = asyncio.ensure_future(config_mod._run_password_command(argv, "account 'x'", 30))
        for _ in range(steps):  # let the start go on for a few loop turns: each case cuts it elsewhere
            await asyncio.sleep(0)
        deadline = time.monotonic() + 1  # (when the start has not forked yet, nothing comes)
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.01)  # blocks the loop: the start cannot finish meanwhile, the child can run
        task.cancel()
        start = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), 10)
        return time.monotonic() - start

    assert asyncio.run(scenario()) < 5, "the cancelled start waited for the command's child"
    if pidfile.exists() and pidfile.read_text().strip():
        assert process_gone(int(pidfile.read_text())), "the command's child survived the cancellation"
