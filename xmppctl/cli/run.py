"""The one path of every per-account command: its job run for each account of the run.

A command builds ``job(account_state) -> rows | AccountOutcome`` once; :func:`run_fleet` runs
it for the one account of a plain command line (rows printed as they are, its error raised
for the error edge) or for every selected account (one document with an ``account`` column,
exit code by the one rule in xmppctl/errors.py).  Held sessions (:func:`run_together`) and the
combined confirmation (:func:`confirm_combined`) are here too.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from ..fleet.run import AccountOutcome
    from .context import State

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


def account_states(st: State) -> dict[str, State]:
    """The per-account states of this run: every selected account, or the one account as it is."""
    if st.fleet_accounts is None:
        st.resolve_account()  # validated before the first stanza, as in fleet mode
        return {st.account or "": st}
    states = {name: st.for_account(name) for name in st.fleet_accounts}
    for sub in states.values():  # every account resolved (and validated) before the first stanza
        sub.resolve_account()
    return states


def run_jobs(st: State, job: Callable[[State], Awaitable[Any]]) -> list[AccountOutcome]:
    """Run *job(account_state)* for each account of the run (one, or every selected one, at most
    --parallel at once); each job's rows, or its AccountOutcome, or its error, per account."""
    from ..fleet.run import run_bounded
    from .context import run

    states = account_states(st)
    progress = _progress_bar(len(states)) if st.fleet_accounts is not None else None

    async def main(_stop: Any) -> list[AccountOutcome]:
        return await run_bounded({n: (lambda s=s: job(s)) for n, s in states.items()}, st.parallel, progress)

    return run(main)


def emit(outcomes: Sequence[AccountOutcome], columns: Sequence[str] | None, fmt: str) -> None:
    """All accounts' rows as one document; failed accounts as error rows or stderr lines.

    *columns* None: the command writes no document (``roster export`` writes files), so a
    failed account is a stderr line in every format."""
    from ..fleet.run import error_line, error_row, prefix_columns, prefix_rows
    from ..output import render

    rows: list[dict[str, Any]] = []
    for outcome in outcomes:
        rows += prefix_rows(outcome.account, outcome.rows)
        if outcome.error is not None:
            if fmt in ("json", "ndjson") and columns is not None:
                rows.append(error_row(outcome.account, outcome.error))
            else:
                sys.stderr.write(error_line(outcome.account, outcome.error) + "\n")
    if columns is not None:
        render(rows, prefix_columns(columns), fmt, sys.stdout)


def finish(st: State, outcomes: Sequence[AccountOutcome], columns: Sequence[str] | None, fmt: str, *,
           empty: str | None = "no results", render_one: Callable[[list[dict[str, Any]]], None] | None = None) -> NoReturn:
    """Print a run's outcomes and exit with the one exit rule.

    Several accounts: one document with the account column, error rows or lines, each account's
    notes (tables only) prefixed with its name.  One account: its rows as before (*render_one*
    for a command that prints one object), its notes, then its error (or the drift it found,
    when that is an error to report) is raised for the edge.
    """
    from ..fleet.run import fleet_exit_code
    from .context import note, render

    if st.fleet_accounts is not None:
        emit(outcomes, columns, fmt)
        for outcome in outcomes:  # drift is no failure: its message follows the document
            if isinstance(outcome.drift, BaseException):
                error_report(outcome.account, outcome.drift, fmt)
        if fmt == "table":
            for outcome in outcomes:
                for line in outcome.notes:
                    note(st, f"xmppctl: {outcome.account}: {line.removeprefix('xmppctl: ')}")
        raise typer.Exit(fleet_exit_code(outcomes))
    (outcome,) = outcomes
    if outcome.error is not None and not outcome.rows:
        raise outcome.error
    if render_one is not None:
        render_one(outcome.rows)
    elif columns is not None:
        render(st, outcome.rows, columns, fmt, empty=empty)
    if fmt == "table":
        for line in outcome.notes:
            note(st, line)
    if outcome.error is not None:
        raise outcome.error
    if isinstance(outcome.drift, BaseException):
        raise outcome.drift
    raise typer.Exit(outcome.exit_code)


def run_fleet(st: State, fmt: str, columns: Sequence[str] | None, job: Callable[[State], Awaitable[Any]], *,
              empty: str | None = "no results", render_one: Callable[[list[dict[str, Any]]], None] | None = None) -> NoReturn:
    """The one path of a per-account command: *job* for each account, one document, one exit code."""
    finish(st, run_jobs(st, job), columns, fmt, empty=empty, render_one=render_one)


def confirm_combined(st: State, removals_of: Callable[[State], Awaitable[list[Any]]],
                     ask: Callable[[dict[str, list[Any]]], Awaitable[bool]]) -> dict[str, Any]:
    """Several accounts, one question: a read pass, then one confirmation of the combined plan.

    *removals_of(account_state)* reads one account's planned removals (sends nothing); *ask*
    gets them all (per account) and answers.  Declining exits 1, nothing sent.  Returns per
    account the confirmed removals (a set of JIDs, for :func:`xmppctl.roster.workflows.removals_confirmed`
    in the apply pass) or the error that kept its plan from being read (not logged in again).
    """
    from ..errors import aborted
    from .context import run

    outcomes = run_jobs(st, removals_of)
    planned = {o.account: o.rows for o in outcomes if o.ok}
    if any(planned.values()) and not run(lambda _stop: ask(planned)):
        raise aborted()
    return {o.account: o.error if o.error is not None else {getattr(c, "jid", c) for c in o.rows} for o in outcomes}


def error_report(account: str, exc: BaseException, fmt: str) -> None:
    """A failed account on stderr, outside the document: a JSON error row (json/ndjson) or a line."""
    from ..fleet.run import error_line, error_row
    from ..text import stderr_json

    line = stderr_json(error_row(account, exc)) if fmt in ("json", "ndjson") else error_line(account, exc)
    sys.stderr.write(line + "\n")


def run_together(st: State, job: Callable[..., Awaitable[Any]], *, opened: Callable[[dict[str, BaseException]], None],
                 failed_late: Callable[[str, BaseException], None]) -> list[AccountOutcome]:
    """Run *job(account_state, stop, arrive)* for each account of the run at once, sessions held open together.

    For commands whose sessions stay up until the time passes or SIGINT/SIGTERM (``presence set
    --hold``, ``presence watch``): every account needs a slot, so more accounts than --parallel
    is a usage error (exit 2, nothing sent).  A signal sets *stop* for all jobs (a second one
    cancels them: exit 130).  A job awaits ``arrive()`` once its session is up: that returns
    when every account is up or has failed, after *opened(failed_so_far)* was called once.  A
    job that fails after that is passed to *failed_late*.
    """
    import asyncio

    from ..errors import Interrupted, UsageError
    from ..fleet.run import run_bounded
    from .context import run

    if st.fleet_accounts is not None and len(st.fleet_accounts) > st.parallel:
        n = len(st.fleet_accounts)
        raise UsageError(f"{n} accounts selected, --parallel {st.parallel}: this command keeps every "
                         f"session open until it ends, so it needs --parallel {n} or more")
    states = account_states(st)
    names = list(states)

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


def conclude(st: State, outcomes: Sequence[AccountOutcome]) -> NoReturn:
    """The exit of a run whose rows and errors were already written as they came (held sessions):
    one account's error is raised for the edge; several accounts exit by the one rule."""
    from ..fleet.run import fleet_exit_code

    if st.fleet_accounts is None and outcomes[0].error is not None:
        raise outcomes[0].error
    raise typer.Exit(fleet_exit_code(outcomes))
