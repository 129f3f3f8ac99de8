"""Shared by every command that edits the roster: run the edit, print the plan or the results.

A command parses its options into a planner from :mod:`xmppctl.edits`; :func:`edit_roster`
runs :func:`xmppctl.sync.edit_roster` in one session (fetch, plan, confirm, apply) and
:func:`report` prints the plan or the per-item results and raises exit 6 (one item failed) /
7 (some of several failed).

Row keys (a documented contract, repeated in each command's --help):

* dry run (``PLAN_COLUMNS``): action (add|update|remove|skip|error), jid, changes (list of
  {field, old, new}; a table shows them as ``field: old -> new``), note (string or null: why an
  item is skipped or would fail).
* results (``RESULT_COLUMNS``): action (add|update|remove|skip), jid, ok (boolean), error
  (stanza error condition, "timeout", "connection-lost" or null), message (string or null).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..output import plan_rows, result_rows
from .common import State, note, render

if TYPE_CHECKING:
    from ..edits import EditPlan
    from ..roster import ChangeResult, RosterItem
    from ..sync import EditOutcome

PLAN_COLUMNS = ("action", "jid", "changes", "note")
RESULT_COLUMNS = ("action", "jid", "ok", "error", "message")

#: help-text fragment for commands that print plans/results
ROWS_HELP = """
    Prints one row per contact.  JSON/NDJSON keys of a result: action
    (add|update|remove|skip), jid, ok (boolean), error (condition or null), message (string or
    null).  With --dry-run nothing is sent and each row has: action
    (add|update|remove|skip|error), jid, changes (list of {field, old, new}), note (string or
    null).  Exit 6 if the only change failed, 7 if some of several failed (the others are applied;
    the failed ones are listed on stderr, as JSON "details" with -o json).  A --dry-run exits
    with the code the real run would have for what it already knows (6/7 for items it would
    refuse, such as contacts not in the roster).
"""


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


def subscription_rows(jids: list[str], message: str) -> list[dict[str, Any]]:
    """Result-form rows for the subscription requests an edit sent (or would send)."""
    return [{"action": "subscribe", "jid": jid, "ok": True, "error": None, "message": message} for jid in jids]


def _raise_as_the_real_run_would(plan: EditPlan, what: str) -> None:
    """A dry run exits with the real run's code: 6/7 for the items it would refuse (not in the
    roster...), counting every planned set as applied (what the server would say is unknown)."""
    from ..errors import XmppctlError
    from ..roster import ChangeResult, raise_for_results

    would = list(plan.refused) + [ChangeResult(change, True) for change in plan.changes]
    try:
        raise_for_results(would, what)
    except XmppctlError as exc:
        exc.message = f"dry run: {exc.message}"
        raise


def report(st: State, outcome: EditOutcome, fmt: str, what: str = "roster") -> None:
    """Print the plan (dry run) or the per-item results, then raise for failures (exit 6/7)."""
    from ..roster import raise_for_results

    plan, results = outcome.plan, outcome.results
    if results is None:
        plan.extra_rows = subscription_rows(plan.subscribe, "would send a subscription request")
        render(st, plan_rows(plan, fmt), PLAN_COLUMNS, fmt, empty=None)
        if fmt == "table":
            note(st, f"dry run: {len(plan.changes)} roster set(s) would be sent; nothing was sent")
        _raise_as_the_real_run_would(plan, what)
        return
    plan.extra_rows = subscription_rows(outcome.subscribed, "subscription request sent")
    render(st, result_rows(plan, results, fmt), RESULT_COLUMNS, fmt, empty="nothing to do")
    raise_for_results(results, what)


def edit_roster(
    st: State,
    fmt: str,
    build: Callable[[list[RosterItem]], EditPlan],
    *,
    dry_run: bool,
    confirm: Callable[[EditPlan], Awaitable[bool]] | None = None,
    what: str = "roster",
) -> None:
    """One session: :func:`xmppctl.sync.edit_roster` with *build*, then :func:`report`."""
    from .. import sync
    from .common import run, session

    if st.fleet_accounts is not None:
        confirmed = _confirm_fleet(st, build, confirm) if confirm is not None and not dry_run else None
        _edit_fleet(st, fmt, build, dry_run=dry_run, what=what, confirmed=confirmed)
    ticks: list[Any] = []

    def planned(current: list[RosterItem]) -> EditPlan:
        plan = build(current)
        ticks.append(None if st.quiet else _progress(len(plan.changes)))  # the total is known once the plan is
        return plan

    def progress(result: Any) -> None:
        if ticks[0] is not None:
            ticks[0](result)

    async def job(_stop: Any) -> EditOutcome:
        async with session(st, changes=not dry_run) as s:
            return await sync.edit_roster(s, planned, dry_run=dry_run, confirm=confirm, progress=progress)

    report(st, run(job), fmt, what)


def _edit_fleet(st: State, fmt: str, build: Callable[[list[RosterItem]], EditPlan], *, dry_run: bool, what: str,
                confirmed: dict[str, set[str]] | None = None) -> None:
    """The same edit on every selected account: one document of plan or result rows, fleet exit code.

    *confirmed*: the removals the user confirmed per account (first pass); an account whose
    roster changed since so that it would remove another contact fails with nothing sent.
    """
    from .. import sync
    from ..fleet import AccountOutcome
    from ..roster import raise_for_results
    from .common import session
    from .fleet import run_fleet

    async def job(sub: State) -> AccountOutcome:
        name = sub.account or ""
        confirm = sync.removals_confirmed(confirmed.get(name, set())) if confirmed is not None else None
        async with session(sub, changes=not dry_run) as s:
            outcome = await sync.edit_roster(s, build, dry_run=dry_run, confirm=confirm)
        plan, results = outcome.plan, outcome.results
        if results is None:
            plan.extra_rows = subscription_rows(plan.subscribe, "would send a subscription request")
            return AccountOutcome(sub.account or "", rows=plan_rows(plan, fmt))
        plan.extra_rows = subscription_rows(outcome.subscribed, "subscription request sent")
        rows = result_rows(plan, results, fmt)
        try:
            raise_for_results(results, what)
        except Exception as exc:  # noqa: BLE001 - this account's failure, reported with its rows
            return AccountOutcome(sub.account or "", rows=rows, error=exc)
        return AccountOutcome(sub.account or "", rows=rows)

    run_fleet(st, fmt, PLAN_COLUMNS if dry_run else RESULT_COLUMNS, job)


def _confirm_fleet(st: State, build: Callable[[list[RosterItem]], EditPlan],
                   confirm: Callable[[EditPlan], Awaitable[bool]]) -> dict[str, set[str]]:
    """Fleet mode asks once, for the combined plan of every account (read in a first pass).

    Declining exits 1 with nothing sent; an account that cannot be read is reported again
    by the edit itself.  Returns the confirmed removals per account, for the second pass.
    """
    from .. import sync
    from ..edits import EditPlan
    from ..errors import XmppctlError
    from .common import run, session
    from .fleet import run_jobs

    async def plan_of(sub: State) -> list[Any]:
        async with session(sub) as s:
            return (await sync.edit_roster(s, build, dry_run=True)).plan.changes

    outcomes = run_jobs(st, plan_of)
    combined = EditPlan(changes=[change for o in outcomes for change in o.rows])
    sys.stderr.write(f"xmppctl: the plan covers {len(st.fleet_accounts or [])} accounts\n")
    if not run(lambda _stop: confirm(combined)):
        raise XmppctlError("aborted: nothing was changed")
    return {o.account: {c.jid for c in o.rows if c.action == "remove"} for o in outcomes if o.ok}
