"""Roster workflows on an open session: edit (plan, confirm, apply) and import (sync to a file).

These are the library entry points the CLI calls, and fleet mode calls for many accounts:
they return dataclasses and never print.  Every workflow starts from the roster as the
server has it now, validates its guards before the first roster set, asks *confirm* (if
given) before anything is removed, backs the roster up before an import prunes, and then
pipelines the roster sets (:func:`xmppctl.roster.items.apply_changes`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .edits import EditPlan
from ..errors import UsageError, XmppctlError, aborted
from .items import DEFAULT_WINDOW, ChangeResult, RosterItem, RosterPlan, apply_changes, fetch_roster, plan_roster

if TYPE_CHECKING:
    from ..xmpp.session_api import SessionAPI

#: asked before an edit or import removes contacts; False aborts (exit 1, nothing sent)
Confirm = Callable[[Any], Awaitable[bool]]
#: called with each finished roster set
Progress = Callable[[Any], None]


# ---- single edits ----------------------------------------------------------------------------


@dataclass
class EditOutcome:
    """The plan of an edit and, unless it was a dry run, the result of every roster set."""

    plan: EditPlan
    #: one per roster set sent, plus the refused items; None for a dry run
    results: list[ChangeResult] | None = None
    #: JIDs a subscription request was sent to after the sets
    subscribed: list[str] = field(default_factory=list)

    @property
    def dry_run(self) -> bool:
        return self.results is None


async def edit_roster(
    session: SessionAPI,
    build: Callable[[list[RosterItem]], EditPlan],
    *,
    dry_run: bool,
    confirm: Callable[[EditPlan], Awaitable[bool]] | None = None,
    after_apply: Callable[[SessionAPI, EditOutcome], Awaitable[None]] | None = None,
    progress: Progress | None = None,
    window: int = DEFAULT_WINDOW,
) -> EditOutcome:
    """Fetch the roster, *build* the plan from it, and (unless *dry_run*) apply it.

    *confirm*, if given, is asked before anything is sent; a False answer raises "aborted"
    (exit 1).  The plan's subscription requests go out once every roster set succeeded;
    *after_apply* runs in the same session after that.
    """
    plan = build(await fetch_roster(session))
    if dry_run:
        return EditOutcome(plan)
    if confirm is not None and not await confirm(plan):
        raise aborted()
    outcome = EditOutcome(plan, list(plan.refused))
    await apply_changes(session, plan.changes, outcome.results, window=window, progress=progress)  # type: ignore[arg-type]
    if plan.subscribe and all(r.ok for r in outcome.results or ()):
        for jid in plan.subscribe:
            session.send_subscription(jid, "subscribe")
            outcome.subscribed.append(jid)
    if after_apply is not None:
        await after_apply(session, outcome)
    return outcome


# ---- import ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOptions:
    """How an import syncs: which fields, whether it prunes, its guards and its pace."""

    prune: bool = False
    names: bool = True
    groups: bool = True
    #: ask each newly added contact for a presence subscription, *rate* per second
    subscribe: bool = False
    rate: float = 10.0
    window: int = DEFAULT_WINDOW
    #: refuse a plan that removes more than this many contacts
    max_remove: int | None = None
    #: allow a prune with no desired contacts (which removes every contact)
    allow_empty: bool = False
    #: the desired roster's name in messages (a file name)
    source: str = "roster file"


@dataclass
class ImportReport:
    """What an import planned and did; filled as it goes, so an interrupted run still tells."""

    plan: RosterPlan
    #: one per roster set sent; None for a dry run
    results: list[ChangeResult] | None = None
    #: JIDs a subscription request was sent to
    subscribed: list[str] = field(default_factory=list)
    #: what the backup writer returned (a path), when the import pruned
    backup: Any = None
    #: contacts in the roster before the import
    roster_size: int = 0

    @property
    def dry_run(self) -> bool:
        return self.results is None

    @property
    def would_subscribe(self) -> list[str]:
        """The JIDs a subscription request goes to (with ``subscribe``): every planned add."""
        return [c.jid for c in self.plan.changes if c.action == "add"]

    def applied(self) -> dict[str, int]:
        """Roster sets that succeeded, by action (add/update/remove), and the failed ones."""
        ok = [r for r in self.results or () if r.ok]
        counts = {a: sum(1 for r in ok if r.change.action == a) for a in ("add", "update", "remove")}
        counts["failed"] = len(self.results or ()) - len(ok)
        return counts


def check_import_guards(desired: Sequence[RosterItem], options: ImportOptions) -> None:
    """The guards that need no roster: a prune with no desired contacts (a truncated file?)."""
    if options.prune and not desired and not options.allow_empty:
        raise UsageError(f"{options.source}: no contacts: with --prune this would remove every contact; "
                         "nothing was sent (pass --allow-empty if that is what you want)")


def check_max_remove(removes: int, max_remove: int | None) -> None:
    """--max-remove: refuse the whole plan, before anything is sent, when it removes too many."""
    if max_remove is not None and removes > max_remove:
        raise UsageError(f"the plan would remove {removes} contact(s), more than --max-remove {max_remove}; "
                         "nothing was sent", details={"remove": removes, "max_remove": max_remove})


def backup_to(directory: str | Path, fmt: str, account_jid: str) -> Callable[[list[RosterItem]], Path]:
    """A backup writer: the roster exported to a new timestamped file in *directory*."""
    from .files import write_backup

    def write(items: list[RosterItem]) -> Path:
        return write_backup(items, fmt, directory, account_jid)

    return write


def removals_confirmed(allowed: Collection[str]) -> Callable[[RosterPlan], Awaitable[bool]]:
    """A *confirm* hook for a plan already confirmed elsewhere (one prompt for many accounts).

    It accepts a plan whose removals were all among *allowed*, and raises (exit 1, nothing
    sent) when the roster changed since and the plan would remove a contact nobody confirmed.
    """
    async def confirm(plan: RosterPlan) -> bool:
        unconfirmed = sorted({c.jid for c in plan.changes if c.action == "remove"} - set(allowed))
        if unconfirmed:
            raise XmppctlError(f"the roster changed since the confirmation: {len(unconfirmed)} more contact(s) "
                               f"to remove ({', '.join(unconfirmed[:3])}{' …' if len(unconfirmed) > 3 else ''}); "
                               "nothing was changed; run the import again")
        return True

    return confirm


async def import_roster(
    session: SessionAPI,
    desired: Sequence[RosterItem],
    options: ImportOptions,
    *,
    dry_run: bool = False,
    progress: Callable[[ImportReport], None] | None = None,
    confirm: Callable[[RosterPlan], Awaitable[bool]] | None = None,
    backup: Callable[[list[RosterItem]], Any] | None = None,
) -> ImportReport:
    """Make the roster match *desired*: fetch, plan, guard, confirm, back up, apply, subscribe.

    Guards (before anything is sent, dry run included): :func:`check_import_guards` and
    ``max_remove``.  *confirm* is asked when the plan removes contacts.  An import whose plan
    removes contacts first hands the current roster to *backup* (default: a TOML export in the
    current directory).  *progress* is called with the live report when the sets start and after
    each roster set and each subscription request, so a caller that is interrupted knows
    what was applied.
    """
    check_import_guards(desired, options)
    current = await fetch_roster(session)
    plan = plan_roster(current, desired, prune=options.prune, names=options.names, groups=options.groups)
    report = ImportReport(plan, roster_size=len(current))
    removes = plan.counts()["remove"]
    check_max_remove(removes, options.max_remove)
    if dry_run:
        return report
    if removes and confirm is not None and not await confirm(plan):
        raise aborted()
    if removes:  # before anything changes; a run that removes nothing leaves no backup file behind
        writer = backup or backup_to(".", "toml", session.bare_jid)
        report.backup = writer(current)
    del current
    await _apply_import(session, report, options, progress)
    return report


async def _apply_import(session: SessionAPI, report: ImportReport, options: ImportOptions,
                        progress: Callable[[ImportReport], None] | None) -> None:
    report.results = []

    def tick(_result: Any = None) -> None:
        if progress is not None:
            progress(report)

    tick()
    await apply_changes(session, report.plan.changes, report.results, window=options.window, progress=tick)
    if not options.subscribe:
        return
    added = sorted(r.change.jid for r in report.results if r.ok and r.change.action == "add")
    for i, jid in enumerate(added):
        if i:
            await asyncio.sleep(1.0 / options.rate)
        session.send_subscription(jid, "subscribe")
        report.subscribed.append(jid)
        tick()
