"""The command matrix's slice against a real server: every command once in JSON and once as a
table (roster export: TOML), one account, a real run (tests/cli/test_matrix.py runs the whole matrix against fakes).

No invocation ends in an internal error or a traceback; exit codes are documented ones; JSON
output parses.
"""

from __future__ import annotations

import json

import pytest

from tests.cli.test_matrix import ARGS, CHECK_FORMATS, DOCUMENTED_EXITS, ROSTER_FILE, TEAM_FILE, commands
from tests.support import Contact

pytestmark = pytest.mark.server_only("prosody", reason="one server is enough for this slice; the commands' "
                                                      "behaviour on both is in their own tests")


@pytest.fixture
def accounts(make_user, tmp_path):
    """A config file whose accounts acc1 (default) and acc2 are a converged team; acc1's roster has
    alice (both, Friends), bob (to, pending, Work and Friends) and carol (from), all real users."""
    acc1, acc2, alice, bob, carol = (make_user(prefix) for prefix in ("mxa", "mxb", "alice", "bob", "carol"))
    acc1.seed([Contact(alice.jid, "Alice", ("Friends",), "both"), Contact(bob.jid, None, ("Work", "Friends"), "to", True),
               Contact(carol.jid, "Carol", (), "from"), Contact(acc2.jid, "acc2", ("Team",), "both")])
    acc2.seed([Contact(acc1.jid, "acc1", ("Team",), "both")])
    server = acc1.server
    config = tmp_path / "config.toml"
    config.write_text('default_account = "acc1"\n' + "".join(
        f'\n[accounts.{name}]\njid = "{user.jid}"\npassword = "{user.password}"\nserver = "127.0.0.1"\n'
        f'port = {server.port}\nca_file = "{server.ca_file}"\n' for name, user in (("acc1", acc1), ("acc2", acc2))))
    config.chmod(0o600)
    (tmp_path / "roster.toml").write_text(ROSTER_FILE.replace("@example.org", f"@{server.domain}"))
    (tmp_path / "team.toml").write_text(TEAM_FILE)
    jids = {"alice@example.org": alice.jid, "bob@example.org": bob.jid, "carol@example.org": carol.jid,
            "@example.org": f"@{server.domain}"}
    return config, jids


def _args(command: str, tmp_path, jids: dict[str, str]) -> list[str]:
    out = []
    for arg in ARGS[command]:
        arg = arg.format(roster=tmp_path / "roster.toml", team=tmp_path / "team.toml")
        for fake, real in jids.items():
            arg = arg.replace(fake, real)
        out.append(arg)
    return out


@pytest.mark.parametrize("command", sorted(commands()))
def test_command_once_in_json_and_as_a_table(command, accounts, run_cli, tmp_path, monkeypatch):
    config, jids = accounts
    monkeypatch.chdir(tmp_path)
    output = next((p for p in commands()[command].params if "--output" in getattr(p, "opts", ())), None)
    if command.startswith("check "):  # monitoring plugins: their own formats and exit codes
        _check_once(command, config, jids, tmp_path, run_cli)
        return
    choices = list(output.type.choices) if output is not None else []
    for fmt in (["json", "table" if "table" in choices else choices[0]] if choices else [None]):
        argv = ["--config", str(config), "--timeout", "5", *command.split(), *_args(command, tmp_path, jids)]
        r = run_cli(None, *argv, *(["-o", fmt] if fmt else []))
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert r.code in DOCUMENTED_EXITS, (r.code, r.stderr)
        # valid arguments and a working server: success or the server's own answer, never a
        # usage, login, connection or timeout failure (which would make this test vacuous)
        assert r.code in (0, 6, 7, 10), (r.code, r.stderr)
        if fmt == "json" and r.stdout.strip():
            json.loads(r.stdout)


def _check_once(command: str, config, jids, tmp_path, run_cli) -> None:
    """A check logs in for real: `check login` is OK; `check presence` of the slice's contact
    (subscribed both ways, offline) is CRITICAL, with the plugin's status line."""
    for fmt in CHECK_FORMATS:
        argv = ["--config", str(config), "--timeout", "5", *command.split(), *_args(command, tmp_path, jids)]
        r = run_cli(None, *argv, "-o", fmt)
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
        expected = 0 if command == "check login" else 2
        assert r.code == expected, (fmt, r.code, r.stdout, r.stderr)
        if fmt == "plugin":
            assert r.stdout.startswith(f"XMPP {command.split()[1].upper()} "), r.stdout
        else:
            assert "xmppctl_login_success" in r.stdout and " 1\n" in r.stdout, r.stdout
