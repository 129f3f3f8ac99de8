"""Shared by every command that edits the roster: plan, --dry-run, apply, per-item report.

A command builds an :class:`EditPlan` from the roster it fetched in the same session, then
:func:`execute` either stops there (dry run) or pipelines the sets; :func:`report` prints the
plan or the per-item results and raises exit 6 (one item failed) / 7 (some of several failed).

Row keys (a documented contract, repeated in each command's --help):

* dry run (``PLAN_COLUMNS``): action (add|update|remove|skip|error), jid, changes (list of
  {field, old, new}; a table shows them as ``field: old -> new``), note (string or null: why an
  item is skipped or would fail).
* results (``RESULT_COLUMNS``): action (add|update|remove|skip), jid, ok (boolean), error
  (stanza error condition, "timeout", "connection-lost" or null), message (string or null).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..output import plan_rows, result_rows
from .common import State, render

if TYPE_CHECKING:
    from ..roster import Change, ChangeResult, RosterItem
    from ..session import Session

PLAN_COLUMNS = ("action", "jid", "changes", "note")
RESULT_COLUMNS = ("action", "jid", "ok", "error", "message")

#: help-text fragment for commands that print plans/results
ROWS_HELP = """
    Prints one row per contact.  JSON/NDJSON keys of a result: action
    (add|update|remove|skip), jid, ok (boolean), error (condition or null), message (string or
    null).  With --dry-run nothing is sent and each row has: action
    (add|update|remove|skip|error), jid, changes (list of {field, old, new}), note (string or
    null).  Exit 6 if the only change failed, 7 if some of several failed (the others are applied;
    the failed ones are listed on stderr, as JSON "details" with -o json).
"""


@dataclass
class EditPlan:
    """What an edit command will do once it has seen the current roster."""

    #: roster sets to send, one item each
    changes: list[Change] = field(default_factory=list)
    #: (jid, why) for contacts that need no set
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: items refused before sending (e.g. not in the roster): they count as failed results
    refused: list[ChangeResult] = field(default_factory=list)
    #: rows for side actions that are not roster sets (e.g. a subscription request), in result-row form
    extra_rows: list[dict[str, Any]] = field(default_factory=list)

    def skip(self, jid: str, why: str) -> None:
        self.skipped.append((jid, why))

    def refuse(self, change: Change, error: str, message: str) -> None:
        from ..roster import ChangeResult

        self.refused.append(ChangeResult(change, False, error, message))


def not_in_roster(plan: EditPlan, jid: str, action: str = "update") -> None:
    """Record *jid* as failed with item-not-found without sending anything for it."""
    from ..roster import Change

    plan.refuse(Change(action, jid, None, None), "item-not-found", f"{jid} is not in the roster (item-not-found); nothing sent")


async def execute(session: Session, plan: EditPlan, *, dry_run: bool, window: int | None = None) -> list[ChangeResult] | None:
    """Apply *plan* in *session* (None for a dry run).  Results include the refused items."""
    from ..roster import DEFAULT_WINDOW, apply_changes

    if dry_run:
        return None
    results = list(plan.refused)
    await apply_changes(session, plan.changes, results, window=window or DEFAULT_WINDOW, progress=_progress(len(plan.changes)))
    return results


def _progress(total: int) -> Any:
    """A one-line progress counter on stderr for long runs on a terminal; None otherwise."""
    if total < 50 or not sys.stderr.isatty():
        return None
    done = [0]

    def tick(_result: Any) -> None:
        done[0] += 1
        end = "\n" if done[0] == total else ""
        sys.stderr.write(f"\r{done[0]}/{total} roster sets done{end}")
        sys.stderr.flush()

    return tick


def report(st: State, plan: EditPlan, results: list[ChangeResult] | None, fmt: str, what: str = "roster") -> None:
    """Print the plan (dry run) or the per-item results, then raise for failures (exit 6/7)."""
    from ..roster import raise_for_results

    if results is None:
        render(st, plan_rows(plan, fmt), PLAN_COLUMNS, fmt)
        if fmt == "table":
            sys.stderr.write(f"dry run: {len(plan.changes)} roster set(s) would be sent; nothing was sent\n")
        return
    render(st, result_rows(plan, results, fmt), RESULT_COLUMNS, fmt)
    raise_for_results(results, what)


def edit_roster(
    st: State,
    fmt: str,
    build: Callable[[list[RosterItem]], EditPlan],
    *,
    dry_run: bool,
    before_apply: Callable[[EditPlan], Awaitable[None]] | None = None,
    after_apply: Callable[[Session, EditPlan, list[ChangeResult]], Awaitable[None]] | None = None,
    what: str = "roster",
) -> None:
    """One session: fetch the roster, *build* the plan from it, apply (unless dry run), report.

    Every edit starts from the roster as the server has it now, because a set replaces the
    whole item.  *before_apply* may refuse (e.g. a declined confirmation) before anything is
    sent; *after_apply* runs in the same session once the sets are done.
    """
    from ..roster import fetch_roster
    from .common import run, session

    async def job(_stop: Any) -> tuple[EditPlan, list[ChangeResult] | None]:
        async with session(st) as s:
            plan = build(await fetch_roster(s))
            if not dry_run and before_apply is not None:
                await before_apply(plan)
            results = await execute(s, plan, dry_run=dry_run)
            if results is not None and after_apply is not None:
                await after_apply(s, plan, results)
            return plan, results

    plan, results = run(job)
    report(st, plan, results, fmt, what)
