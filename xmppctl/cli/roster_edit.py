"""Shared by every command that edits the roster: run the edit, print the plan or the results.

A command parses its options into a planner from :mod:`xmppctl.roster.edits`; :func:`edit_roster`
runs :func:`xmppctl.roster.workflows.edit_roster` in one session (fetch, plan, confirm, apply) and
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
from typing import TYPE_CHECKING, Any, NoReturn

from ..output import plan_rows, result_rows
from .context import State, session

if TYPE_CHECKING:
    from ..roster.edits import EditPlan
    from ..fleet.run import AccountOutcome
    from ..roster.items import RosterItem
    from ..roster.workflows import EditOutcome

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


def _as_the_real_run_would(plan: EditPlan, what: str) -> Exception | None:
    """A dry run's error is the real run's: 6/7 for the items it would refuse (not in the
    roster...), counting every planned set as applied (what the server would say is unknown)."""
    from ..errors import XmppctlError
    from ..roster.items import ChangeResult, raise_for_results

    would = list(plan.refused) + [ChangeResult(change, True) for change in plan.changes]
    try:
        raise_for_results(would, what)
    except XmppctlError as exc:
        exc.message = f"dry run: {exc.message}"
        return exc
    return None


def outcome_of(account: str, outcome: EditOutcome, fmt: str, what: str = "roster") -> AccountOutcome:
    """One account's edit as rows (the plan, or per-item results), notes and error (exit 6/7)."""
    from ..fleet.run import AccountOutcome
    from ..roster.items import raise_for_results

    plan, results = outcome.plan, outcome.results
    if results is None:
        plan.extra_rows = subscription_rows(plan.subscribe, "would send a subscription request")
        return AccountOutcome(account, rows=plan_rows(plan, fmt), error=_as_the_real_run_would(plan, what),
                              notes=[f"dry run: {len(plan.changes)} roster set(s) would be sent; nothing was sent"])
    plan.extra_rows = subscription_rows(outcome.subscribed, "subscription request sent")
    rows = result_rows(plan, results, fmt)
    try:
        raise_for_results(results, what)
    except Exception as exc:  # noqa: BLE001 - this account's failed items, reported with its rows
        return AccountOutcome(account, rows=rows, error=exc)
    return AccountOutcome(account, rows=rows)


def edit_roster(
    st: State,
    fmt: str,
    build: Callable[[list[RosterItem]], EditPlan],
    *,
    dry_run: bool,
    confirm: Callable[[EditPlan], Awaitable[bool]] | None = None,
    what: str = "roster",
) -> NoReturn:
    """The same edit on each account of the run: :func:`xmppctl.roster.workflows.edit_roster` in its session.

    With *confirm* (removals to confirm), one account is asked in its own session, between plan
    and apply; several accounts are read first and asked once for the combined plan, and each
    then removes only what was confirmed (:func:`confirm_combined`).
    """
    from ..roster import workflows as sync
    from .run import run_fleet

    ask = confirm if confirm is not None and not dry_run else None
    checks = _confirm_combined(st, build, ask) if ask is not None and st.fleet_accounts is not None else None

    async def job(sub: State) -> AccountOutcome:
        name = sub.account or ""
        if checks is not None and isinstance(checks.get(name), BaseException):
            raise checks[name]  # the read pass failed for this account: not logged in again
        tick = None if st.quiet or st.fleet_accounts is not None else _Progress()
        check = ask if checks is None else sync.removals_confirmed(checks[name])
        async with session(sub, changes=not dry_run) as s:
            outcome = await sync.edit_roster(s, tick.plan(build) if tick else build, dry_run=dry_run, confirm=check,
                                             progress=tick)
        return outcome_of(name, outcome, fmt, what)

    run_fleet(st, fmt, PLAN_COLUMNS if dry_run else RESULT_COLUMNS, job, empty=None if dry_run else "nothing to do")


class _Progress:
    """The one-account progress counter: its total is known once the plan is."""

    def __init__(self) -> None:
        self.tick: Any = None

    def plan(self, build: Callable[[list[RosterItem]], EditPlan]) -> Callable[[list[RosterItem]], EditPlan]:
        def planned(current: list[RosterItem]) -> EditPlan:
            plan = build(current)
            self.tick = _progress(len(plan.changes))
            return plan

        return planned

    def __call__(self, result: Any) -> None:
        if self.tick is not None:
            self.tick(result)


def _confirm_combined(st: State, build: Callable[[list[RosterItem]], EditPlan],
                      confirm: Callable[[EditPlan], Awaitable[bool]]) -> dict[str, Any]:
    """Several accounts: every plan read first, the command's question asked once for all."""
    from ..roster import workflows as sync
    from ..roster.edits import EditPlan
    from .run import confirm_combined

    async def removals_of(sub: State) -> list[Any]:
        async with session(sub) as s:
            plan = (await sync.edit_roster(s, build, dry_run=True)).plan
        return [c for c in plan.changes if c.action == "remove"]

    async def ask(planned: dict[str, list[Any]]) -> bool:
        sys.stderr.write(f"xmppctl: the plan covers {len(planned)} accounts\n")
        return await confirm(EditPlan(changes=[c for changes in planned.values() for c in changes]))

    return confirm_combined(st, removals_of, ask)
