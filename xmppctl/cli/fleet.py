"""Fleet mode in the CLI: one command across many configured accounts, in one event loop.

``-a`` repeated or given a glob, or ``--all-accounts``, selects many accounts (the pure rules
are xmppctl/fleet.py).  A command that supports it calls :func:`run_fleet` with a per-account
job (a session in, rows out); every other command refuses fleet mode in :func:`check_fleet`,
which runs when the command first reads its state, before any config or network work of its
own: exit 2, nothing sent.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from ..fleet import AccountOutcome
    from .common import State

#: commands that run across many accounts (the root --help lists them)
FLEET_COMMANDS = ("roster list", "roster show", "roster add", "roster remove", "roster set",
                  "roster export", "roster diff", "roster import",
                  "group list", "group members", "group add", "group remove", "group rename", "group delete",
                  "sub request", "sub cancel", "sub revoke", "sub preapprove")

#: why the other commands refuse fleet mode (the default reason is REFUSE_DEFAULT)
REFUSE_REASONS = {
    "account": "it manages the config file or one account's login",
    "presence watch": "it streams events of one session until stopped",
    "presence set": "it holds one session's presence",
    "sub approve": "it answers the requests one session collects",
    "sub deny": "it answers the requests one session collects",
    "sub pending": "it collects the requests of one session",
    "team sync": "the team file names its accounts",
}
REFUSE_DEFAULT = "not supported across accounts yet"

FLEET_HELP = (
    "Fleet mode (-a repeated or a glob, or --all-accounts) runs: " + ", ".join(FLEET_COMMANDS)
    + ". Rows gain a leading 'account' column; a failed account is an error row (json/ndjson) or a "
    "stderr line (table/csv); exit 0 all ok, 7 some failed. Every other command refuses it "
    "(exit 2): account * and presence set/watch act on one session or the config, team sync "
    "takes its accounts from the team file, the rest are not wired yet. roster export needs "
    "--file with {account} in it (one file per account)."
)


def _reason(path: str) -> str:
    for prefix, reason in REFUSE_REASONS.items():
        if path == prefix or path.startswith(prefix + " "):
            return reason
    return REFUSE_DEFAULT


def check_fleet(st: State, command_path: str) -> None:
    """Decide fleet mode for this command line; refuse it for commands that do not support it."""
    from ..errors import UsageError
    from ..fleet import fleet_mode, is_glob, select_accounts

    patterns = list(st.patterns)
    if not st.all_accounts and len(patterns) <= 1 and not any(is_glob(p) for p in patterns):
        return  # one account (or none): the single-account path, unchanged
    names = list(st.config().accounts)
    if not fleet_mode(names, patterns, st.all_accounts):
        return
    selected = select_accounts(names, patterns, st.all_accounts)
    path = command_path.split(" ", 1)[1] if " " in command_path else command_path
    if path not in FLEET_COMMANDS:
        raise UsageError(f"{path} does not run across many accounts: {_reason(path)}; select one account with -a NAME")
    if st.password_stdin:
        raise UsageError("--password-stdin reads one password: in fleet mode use each account's password source")
    if st.jid:
        raise UsageError("--jid selects one account: do not combine it with several -a or --all-accounts")
    st.fleet_accounts = selected


def _progress_bar(total: int) -> Callable[[int, int], None] | None:
    """One line on a terminal's stderr: accounts done / total; None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total_: int) -> None:
        width = 30
        filled = width * done // max(total_, 1)
        end = "\r\x1b[K" if done == total_ else ""
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total_} accounts{end}")
        sys.stderr.flush()

    show(0, total)
    return show


def run_jobs(st: State, job: Callable[[State], Awaitable[Any]]) -> list[AccountOutcome]:
    """Run *job(account_state)* for every selected account, at most --parallel at once."""
    from ..fleet import run_bounded
    from .common import run

    names = st.fleet_accounts or []
    states = {name: st.for_account(name) for name in names}
    for sub in states.values():  # every account resolved (and validated) before the first stanza
        sub.resolve_account()
    progress = _progress_bar(len(names))

    async def main(_stop: Any) -> list[AccountOutcome]:
        return await run_bounded({n: (lambda s=s: job(s)) for n, s in states.items()}, st.parallel, progress)

    return run(main)


def emit(outcomes: Sequence[AccountOutcome], columns: Sequence[str], fmt: str) -> None:
    """All accounts' rows as one document; failed accounts as error rows or stderr lines."""
    from ..fleet import error_line, error_row, prefix_columns, prefix_rows
    from ..output import render

    rows: list[dict[str, Any]] = []
    for outcome in outcomes:
        rows += prefix_rows(outcome.account, outcome.rows)
        if outcome.error is not None:
            if fmt in ("json", "ndjson"):
                rows.append(error_row(outcome.account, outcome.error))
            else:
                sys.stderr.write(error_line(outcome.account, outcome.error) + "\n")
    render(rows, prefix_columns(columns), fmt, sys.stdout)


def run_fleet(st: State, fmt: str, columns: Sequence[str], job: Callable[[State], Awaitable[Any]]) -> NoReturn:
    """Run *job* on every selected account, print one document, exit with the fleet's code."""
    from ..fleet import fleet_exit_code

    outcomes = run_jobs(st, job)
    emit(outcomes, columns, fmt)
    raise typer.Exit(fleet_exit_code(outcomes))
