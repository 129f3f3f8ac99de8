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
                  "sub request", "sub cancel", "sub revoke", "sub preapprove",
                  "sub pending", "sub approve", "sub deny", "presence set", "presence probe", "presence watch")

#: why the other commands refuse fleet mode (the default reason is REFUSE_DEFAULT)
REFUSE_REASONS = {
    "account": "it manages the config file or one account's login",
    "team sync": "the team file names its accounts",
    "presence explain": "it diagnoses one contact from one account (and, with --peer, from the contact's side)",
    "roster migrate": "it moves one account (-a OLD) to another (--to NEW)",
    "block": "not wired for many accounts yet; run it per account",
}
REFUSE_DEFAULT = "not supported across accounts yet"

FLEET_HELP = (
    "Fleet mode (-a repeated or a glob, or --all-accounts) runs: " + ", ".join(FLEET_COMMANDS)
    + ". Rows gain a leading 'account' column; a failed account is an error row (json/ndjson) or a "
    "stderr line (table/csv); exit 0 all ok, 7 some failed. presence set --hold and presence watch "
    "keep every session open together (needs --parallel >= the number of accounts); roster export "
    "needs --file with {account} in it (one file per account). Every other command refuses it "
    "(exit 2): account * acts on the config or one login, team sync takes its accounts from the "
    "team file, presence explain diagnoses one contact of one account, block * is not wired yet."
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
    from ..config import check_several_accounts_env

    check_several_accounts_env(f"{len(selected)} account(s) are selected with -a/--all-accounts")
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


def error_report(account: str, exc: BaseException, fmt: str) -> None:
    """A failed account on stderr, outside the document: a JSON error row (json/ndjson) or a line."""
    from ..fleet import error_line, error_row
    from ..output import stderr_json

    line = stderr_json(error_row(account, exc)) if fmt in ("json", "ndjson") else error_line(account, exc)
    sys.stderr.write(line + "\n")


def run_together(st: State, job: Callable[..., Awaitable[Any]], *, opened: Callable[[dict[str, BaseException]], None],
                 failed_late: Callable[[str, BaseException], None]) -> list[AccountOutcome]:
    """Run *job(account_state, stop, arrive)* for every selected account at once, sessions held open together.

    For commands whose sessions stay up until the time passes or SIGINT/SIGTERM (``presence set
    --hold``, ``presence watch``): every account needs a slot, so more accounts than --parallel
    is a usage error (exit 2, nothing sent).  A signal sets *stop* for all jobs (a second one
    cancels them: exit 130).  A job awaits ``arrive()`` once its session is up: that returns
    when every account is up or has failed, after *opened(failed_so_far)* was called once.  A
    job that fails after that is passed to *failed_late*.
    """
    import asyncio

    from ..errors import Interrupted, UsageError
    from ..fleet import run_bounded
    from .common import run

    names = st.fleet_accounts or []
    if len(names) > st.parallel:
        raise UsageError(f"{len(names)} accounts selected, --parallel {st.parallel}: this command keeps every "
                         f"session open until it ends, so it needs --parallel {len(names)} or more")
    states = {name: st.for_account(name) for name in names}
    for sub in states.values():  # every account resolved (and validated) before the first stanza
        sub.resolve_account()

    async def main(stop: asyncio.Event) -> list[AccountOutcome]:
        waiting, failed, gate = set(names), {}, asyncio.Event()

        def passed(name: str, exc: BaseException | None = None) -> None:
            if name not in waiting:
                return
            waiting.discard(name)
            if exc is not None:
                failed[name] = exc
            if not waiting:
                opened(failed)
                gate.set()

        async def one(name: str, sub: State) -> Any:
            async def arrive() -> None:
                passed(name)
                await gate.wait()

            try:
                result = await job(sub, stop, arrive)
            except Interrupted:
                raise
            except Exception as exc:
                if name in waiting:
                    passed(name, exc)
                else:
                    failed_late(name, exc)
                raise
            passed(name)
            return result

        return await run_bounded({n: (lambda n=n, s=s: one(n, s)) for n, s in states.items()}, len(names) or 1)

    return run(main, graceful_signals=True)
