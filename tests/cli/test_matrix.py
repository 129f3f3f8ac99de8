"""Every command × every output format × one account and a fleet × dry run and real × an empty
and a filled roster, in-process against fake sessions; and every command in JSON and as a table
against a server whose stream is lost after login and one that refuses every roster set.

No invocation may end in an internal error or a traceback, every exit code is a documented one,
a JSON document is JSON, a dry run and a usage error (exit 2) send nothing.  The commands are
read from the click tree, so a new command is covered as soon as it exists, and fails here
until ARGS gives it a minimal valid argument set.  A smaller slice runs against Prosody in
tests/integration/test_matrix_prosody.py.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.fakes import FakeSession
from xmppctl.errors import EXIT_CODES
from xmppctl.roster.items import RosterItem

#: a minimal valid argument set per command; {roster} and {team} are files written per case
ARGS: dict[str, list[str]] = {
    "account add": ["acc3", "--jid", "acc3@example.org"],
    "account list": [],
    "account remove": ["acc2", "--force"],
    "account set": ["acc1", "--timeout", "5"],
    "account show": ["acc1"],
    "account test": ["acc1"],
    "block add": ["spam@example.org"],
    "check login": [],
    "check presence": ["alice@example.org"],
    "block list": [],
    "block remove": ["spam@example.org"],
    "group add": ["Friends", "carol@example.org"],
    "group delete": ["Friends", "--yes"],
    "group list": [],
    "group members": ["Friends"],
    "group remove": ["Friends", "alice@example.org"],
    "group rename": ["Friends", "Pals"],
    "presence explain": ["alice@example.org"],
    "presence probe": [],
    "presence set": ["--show", "away", "--status", "back soon"],
    "presence watch": ["--count", "1", "--until", "0.02"],
    "roster add": ["dave@example.org", "--name", "Dave", "--group", "Friends"],
    "roster diff": ["{roster}"],
    "roster export": [],
    "roster import": ["{roster}", "--yes"],
    "roster list": [],
    "roster migrate": ["--to", "acc2", "--settle", "0"],
    "roster remove": ["alice@example.org"],
    "roster set": ["alice@example.org", "--add-group", "Close"],
    "roster show": ["alice@example.org"],
    "sub approve": ["--all", "--settle", "0"],
    "sub cancel": ["bob@example.org"],
    "sub deny": ["--all", "--settle", "0"],
    "sub pending": ["--settle", "0"],
    "sub preapprove": ["erin@example.org"],
    "sub request": ["alice@example.org"],
    "sub revoke": ["carol@example.org"],
    "team sync": ["{team}"],
}

#: -o of the monitoring checks
CHECK_FORMATS = ("plugin", "prometheus")

#: cases that fail today: id -> why (xfail strict: remove the entry when it passes)
KNOWN_FAILURES: dict[str, str] = {}

ACCOUNTS = ("acc1", "acc2")
DOCUMENTED_EXITS = {int(code) for code in EXIT_CODES}
EXTENSION = '<x xmlns="urn:example:client-data">kept</x>'
ROSTER_FILE = ('[[contact]]\njid = "alice@example.org"\nname = "Alice"\ngroups = ["Friends"]\n\n'
               '[[contact]]\njid = "dave@example.org"\n')
TEAM_FILE = 'group = "Team"\n' + "".join(f'\n[[member]]\naccount = "{name}"\n' for name in ACCOUNTS)


def commands() -> dict[str, object]:
    """Every leaf command of the CLI by its path ("roster list"), from the click tree."""
    from xmppctl.cli import root_command

    def walk(command, path):
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            yield " ".join(path), command
            return
        for name, sub in sorted(subcommands.items()):
            yield from walk(sub, (*path, name))

    return dict(walk(root_command(), ()))


def filled_roster(account: str) -> list[RosterItem]:
    """Contacts in every subscription state, one carrying another client's data, and the other
    account as a converged team member."""
    other = next(name for name in ACCOUNTS if name != account)
    return [RosterItem("alice@example.org", "Alice", "both", False, ("Friends",), extra_children=(EXTENSION,)),
            RosterItem("bob@example.org", None, "to", True, ("Work", "Friends")),
            RosterItem("carol@example.org", "Carol", "from"),
            RosterItem(f"{other}@example.org", other, "both", False, ("Team",))]


#: the account's server in a case: an empty roster, a filled one, and two failing servers
#: (filled rosters) for a smaller slice: one whose stream is gone right after login, one that
#: refuses every roster set
SERVERS = ("empty", "filled")
FAILING_SERVERS = ("lost", "refusing")


def fake_session(account: str, server: str) -> FakeSession:
    """*account*'s session: an empty roster on a server without blocking, or a filled roster whose
    contacts answer its presence, on a server with a block list (and failing as *server* says)."""
    if server == "empty":
        return FakeSession(bare_jid=f"{account}@example.org")
    fake = FakeSession.with_roster(*filled_roster(account), bare_jid=f"{account}@example.org", blocklist=["spam@example.org"],
                                   answers=[{"from": "alice@example.org/phone"}, {"from": "bob@example.org/laptop"}])
    if server == "lost":
        fake.drop()
    elif server == "refusing":
        fake.refuse = {jid: "not-allowed" for jid in [*fake.roster, "dave@example.org"]}
    return fake


@dataclass(frozen=True)
class Case:
    command: str
    fmt: str | None
    fleet: bool
    dry_run: bool
    server: str

    @property
    def id(self) -> str:
        return "-".join([self.command.replace(" ", "-"), self.fmt or "plain", "fleet" if self.fleet else "one",
                         "dry" if self.dry_run else "real", self.server])


def cases() -> list[Case]:
    """The whole product for the working servers; JSON and table, real runs, for the failing ones."""
    out = []
    for name, command in commands().items():
        options = {opt: p for p in command.params for opt in getattr(p, "opts", ())}
        output = options.get("--output")
        # the check commands' -o is free text, so that a wrong value is UNKNOWN (3), not a usage error
        formats = list(getattr(output.type, "choices", None) or CHECK_FORMATS) if output is not None else [None]
        dry_runs = (False, True) if "--dry-run" in options else (False,)
        for fmt, fleet, dry_run, server in itertools.product(formats, (False, True), dry_runs, SERVERS):
            out.append(Case(name, fmt, fleet, dry_run, server))
        for fmt, fleet, server in itertools.product([f for f in formats if f in ("json", "table")] or formats[:1],
                                                   (False, True), FAILING_SERVERS):
            out.append(Case(name, fmt, fleet, False, server))
    return out


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[case.id])] if case.id in KNOWN_FAILURES else []
    return pytest.param(case, id=case.id, marks=marks)


def test_every_command_has_an_argument_set_and_every_argument_set_a_command():
    names = set(commands())
    assert sorted(names - set(ARGS)) == [], "add the new command to ARGS"
    assert sorted(set(ARGS) - names) == [], "this command is gone: take it out of ARGS"


def test_the_known_failures_are_cases_of_the_matrix():
    assert sorted(set(KNOWN_FAILURES) - {case.id for case in cases()}) == []


def _argv(case: Case, tmp_path: Path) -> list[str]:
    config = tmp_path / "config.toml"
    config.write_text(f'default_account = "{ACCOUNTS[0]}"\n' + "".join(
        f'\n[accounts.{name}]\njid = "{name}@example.org"\npassword = "pw-{name}"\n' for name in ACCOUNTS))
    config.chmod(0o600)
    files = {"roster": tmp_path / "roster.toml", "team": tmp_path / "team.toml"}
    files["roster"].write_text(ROSTER_FILE)
    files["team"].write_text(TEAM_FILE)
    argv = ["--config", str(config), "--timeout", "0.05", *(["-a", "acc*"] if case.fleet else []), *case.command.split()]
    argv += [arg.format(**files) for arg in ARGS[case.command]]
    argv += ["-o", case.fmt] if case.fmt else []
    argv += ["--dry-run"] if case.dry_run else []
    return argv


def _check_document(fmt: str | None, stdout: str) -> list[dict]:
    """The rows of a JSON/NDJSON document on stdout (which must parse); [] for other formats."""
    if fmt == "json" and stdout.strip():
        document = json.loads(stdout)
        return document if isinstance(document, list) else [document]
    if fmt == "ndjson":
        return [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return []


def _sent(fakes: dict[str, FakeSession]) -> list[tuple]:
    """What changes something: everything but an initial presence at a negative priority (the one
    that lists pending requests without taking messages)."""
    return [s for fake in fakes.values() for s in fake.sent
            if not (s[0] == "presence" and s[1]["priority"] is not None and s[1]["priority"] < 0 and s[1]["to"] is None)]


@pytest.mark.parametrize("case", [_param(c) for c in cases()])
def test_command(case, cli, tmp_path, monkeypatch):
    if case.command not in ARGS:
        pytest.fail(f"{case.command}: no argument set in ARGS (test_matrix.py)")
    monkeypatch.chdir(tmp_path)  # backups and exports land here
    fakes = {name: fake_session(name, case.server) for name in ACCOUNTS}

    def factory(st, **kwargs):
        return fakes[st.account or ACCOUNTS[0]].factory(st, **kwargs)

    r = cli(_argv(case, tmp_path), session_factory=factory)
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.code in DOCUMENTED_EXITS, (r.code, r.stderr)
    rows = _check_document(case.fmt, r.stdout)
    if r.code and case.fmt in ("json", "ndjson"):  # the error is a JSON line on stderr, or error rows (fleet)
        last = r.stderr.strip().splitlines()[-1:] or ["{}"]
        assert json.loads(last[0]).get("exit") == r.code or any(row.get("error") for row in rows), r.stderr
    if case.dry_run or r.code == 2:
        assert _sent(fakes) == [], "a dry run or a usage error sends nothing"
    if case.fleet and r.code != 2:  # a fleet runs on every account it selected (or refuses: exit 2)
        opened = [name for name, fake in fakes.items() if fake.opened]
        assert opened in ([], list(ACCOUNTS)), "a session on some accounts only (an empty list: a dry run that needs none)"


def test_team_sync_dry_run_of_a_converged_team_is_exit_0_in_a_table(cli, tmp_path):
    fakes = {name: fake_session(name, "filled") for name in ACCOUNTS}
    r = cli(_argv(Case("team sync", "table", False, True, "filled"), tmp_path),
            session_factory=lambda st, **kw: fakes[st.account].factory(st, **kw))
    assert (r.code, r.stdout, r.stderr) == (0, "", "dry run: the team is converged; nothing to send\n")
