"""``roster export``, ``roster diff`` and ``roster import`` across many accounts (fleet mode).

Everything is validated by the single-account command before it calls in here (options, the
roster file, read once); this module runs the per-account jobs (a session in, rows out, see
cli/fleet.py), renders one document and exits with the fleet's code.  The workflows are the
library's: :func:`xmppctl.roster.fetch_roster`, :func:`xmppctl.sync.import_roster`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from .common import note, session

if TYPE_CHECKING:
    from ..fleet import AccountOutcome
    from ..roster import RosterItem
    from ..sync import ImportOptions, ImportReport
    from .common import State


def _announce(st: State, line: str) -> None:
    """A note while the accounts bar may be on screen: clear its line first."""
    note(st, ("\r\x1b[K" if sys.stderr.isatty() else "") + line)


def _finish(st: State, outcomes: list[AccountOutcome], fmt: str, columns: Any, summaries: dict[str, str]) -> NoReturn:
    """One document of rows (``emit``), then each account's summary line (tables only), then exit."""
    from ..fleet import fleet_exit_code
    from .fleet import emit

    emit(outcomes, columns, fmt)
    if fmt == "table":
        for outcome in outcomes:
            if outcome.account in summaries:
                note(st, f"xmppctl: {outcome.account}: {summaries[outcome.account]}")
    raise typer.Exit(fleet_exit_code(outcomes))


# ---- export ------------------------------------------------------------------------------------


def export_fleet(st: State, fmt: str, template: str | None) -> NoReturn:
    """Each account's roster to its own file (``{account}`` in --file); one stderr line each."""
    from ..fleet import AccountOutcome, error_line, export_paths, fleet_exit_code
    from ..roster import fetch_roster
    from ..rosterfile import write_roster_path
    from .fleet import run_jobs

    paths = export_paths(template, st.fleet_accounts or [])

    async def job(sub: State) -> AccountOutcome:
        async with session(sub) as s:
            items = await fetch_roster(s)
        path = write_roster_path(items, fmt, paths[sub.account or ""])
        return AccountOutcome(sub.account or "", rows=[{"file": str(path), "contacts": len(items)}])

    outcomes = run_jobs(st, job)
    for outcome in outcomes:
        if outcome.error is not None:
            sys.stderr.write(error_line(outcome.account, outcome.error) + "\n")
        else:
            row = outcome.rows[0]
            note(st, f"xmppctl: {outcome.account}: exported {row['contacts']} contact(s) to {row['file']}")
    raise typer.Exit(fleet_exit_code(outcomes))


# ---- diff --------------------------------------------------------------------------------------


def diff_fleet(st: State, fmt: str, desired: list[RosterItem], *, prune: bool, sync: dict[str, bool],
               exit_code: bool) -> NoReturn:
    """The file compared with every selected account's roster: one document of plan rows."""
    from ..fleet import AccountOutcome
    from ..roster import fetch_roster
    from .changes import PLAN_COLUMNS
    from .fleet import run_jobs
    from .roster import diff_plan, diff_rows, diff_summary

    summaries: dict[str, str] = {}

    async def job(sub: State) -> AccountOutcome:
        async with session(sub) as s:
            plan, extra = diff_plan(await fetch_roster(s), desired, prune=prune, sync=sync)
        summaries[sub.account or ""] = diff_summary(plan, extra)
        return AccountOutcome(sub.account or "", rows=diff_rows(plan, extra, fmt), drift=exit_code and plan.drift)

    _finish(st, run_jobs(st, job), fmt, PLAN_COLUMNS, summaries)


# ---- import ------------------------------------------------------------------------------------


def import_fleet(st: State, fmt: str, file: str, desired: list[RosterItem], options: ImportOptions, *,
                 dry_run: bool, yes: bool, backup_dir: Path, backup_fmt: str) -> NoReturn:
    """The same file imported into every selected account, each in its own session.

    With --prune (no --yes, not a dry run) a first pass reads every roster and asks once for
    the combined removals; the second pass removes only what was confirmed.  An account that
    failed the first pass is reported with that error and not logged in again.
    """
    from ..errors import Interrupted
    from ..fleet import AccountOutcome
    from ..roster import raise_for_results
    from ..sync import backup_to, import_roster, removals_confirmed
    from .changes import PLAN_COLUMNS, RESULT_COLUMNS
    from .fleet import run_jobs
    from .roster import import_rows, import_summary

    confirmed: dict[str, set[str]] | None = None
    failed: dict[str, BaseException] = {}
    if options.prune and not dry_run and not yes:
        confirmed, failed = _confirm_removals(st, file, desired, options)
    reports: dict[str, ImportReport] = {}
    summaries: dict[str, str] = {}

    async def job(sub: State) -> AccountOutcome:
        name = sub.account or ""
        if name in failed:
            raise failed[name]
        jid = sub.resolve_account().jid
        write_backup = backup_to(backup_dir, backup_fmt, jid)

        def backup(current: list[RosterItem]) -> Path:
            path = write_backup(current)
            _announce(st, f"xmppctl: {name}: backup of the current roster ({len(current)} contacts) written to {path}")
            return path

        confirm = removals_confirmed(confirmed.get(name, set())) if confirmed is not None else None
        async with session(sub, changes=not dry_run) as s:
            report = await import_roster(s, desired, options, dry_run=dry_run, confirm=confirm, backup=backup,
                                         progress=lambda live: reports.__setitem__(name, live))
        summaries[name] = import_summary(report)
        rows = import_rows(report, fmt, subscribe=options.subscribe)
        try:
            raise_for_results(report.results or [], "roster")
        except Exception as exc:  # noqa: BLE001 - this account's failed sets, reported with its rows
            return AccountOutcome(name, rows=rows, error=exc)
        return AccountOutcome(name, rows=rows)

    try:
        outcomes = run_jobs(st, job)
    except Interrupted:
        _interrupted(reports)
        raise
    _finish(st, outcomes, fmt, PLAN_COLUMNS if dry_run else RESULT_COLUMNS, summaries)


def _confirm_removals(st: State, file: str, desired: list[RosterItem],
                      options: ImportOptions) -> tuple[dict[str, set[str]], dict[str, BaseException]]:
    """First pass: every account's planned removals, asked for once (combined); declining exits 1.

    Returns (the confirmed removals per account, the accounts that could not be planned and why).
    """
    from ..errors import XmppctlError
    from ..sync import import_roster
    from .common import run
    from .fleet import run_jobs

    async def removals(sub: State) -> list[str]:
        async with session(sub) as s:
            report = await import_roster(s, desired, options, dry_run=True)
        return [c.jid for c in report.plan.changes if c.action == "remove"]

    outcomes = run_jobs(st, removals)
    planned = {o.account: set(o.rows) for o in outcomes if o.ok}
    failed = {o.account: o.error for o in outcomes if o.error is not None}
    total = sum(len(jids) for jids in planned.values())
    if total:
        from .prompt import confirm

        per = ", ".join(f"{name}: {len(jids)}" for name, jids in planned.items() if jids)
        question = f"Remove {total} contact(s) not in {file} from {sum(1 for j in planned.values() if j)} account(s) ({per})?"
        if not run(lambda _stop: confirm(question)):
            raise XmppctlError("aborted: nothing was changed")
    return planned, failed


def _interrupted(reports: dict[str, ImportReport]) -> None:
    """Ctrl-C: what each account that had started sending applied (as the single-account run says)."""
    from .roster import _interrupted_summary

    for name, report in reports.items():
        if report.results is not None:
            sys.stderr.write(f"xmppctl: {name}: " + _interrupted_summary(report).removeprefix("xmppctl: "))
