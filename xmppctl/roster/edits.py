"""Pure plans of the roster edit commands: what to send, what to skip, what to refuse.

Each planner takes the roster as the server has it now (a set replaces the whole item, so
every edit starts from the current item) and returns an :class:`EditPlan`; nothing here
touches the network.  :func:`xmppctl.roster.workflows.edit_roster` fetches, plans, applies and reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ServerRefused
from .groups import KEEP, add_group, delete_group, edit_item, remove_group, rename_group, rewrite
from .items import Change, ChangeResult, RosterItem


@dataclass
class EditPlan:
    """What an edit will do once it has seen the current roster."""

    #: roster sets to send, one item each
    changes: list[Change] = field(default_factory=list)
    #: (jid, why) for contacts that need no set
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: items refused before sending (e.g. not in the roster): they count as failed results
    refused: list[ChangeResult] = field(default_factory=list)
    #: JIDs to send a subscription request once every set succeeded (``roster add --subscribe``)
    subscribe: list[str] = field(default_factory=list)
    #: rows for side actions that are not roster sets, in result-row form (filled by the renderer)
    extra_rows: list[dict[str, Any]] = field(default_factory=list)

    def skip(self, jid: str, why: str) -> None:
        self.skipped.append((jid, why))

    def refuse(self, change: Change, error: str, message: str) -> None:
        self.refused.append(ChangeResult(change, False, error, message))


def not_in_roster(plan: EditPlan, jid: str, action: str = "update") -> None:
    """Record *jid* as failed with item-not-found without sending anything for it."""
    plan.refuse(Change(action, jid, None, None), "item-not-found", f"{jid} is not in the roster (item-not-found); nothing sent")


def _find(current: Iterable[RosterItem], jid: str) -> RosterItem | None:
    return next((i for i in current if i.jid == jid), None)


def plan_add(current: Sequence[RosterItem], jid: str, *, name: str | None = None,
             groups: Sequence[str] | None = None, subscribe: bool = False) -> EditPlan:
    """``roster add``: create *jid*, or change only the given name/groups of the existing item."""
    plan = EditPlan(subscribe=[jid] if subscribe else [])
    have = _find(current, jid)
    if have is None:
        plan.changes.append(Change("add", jid, None, RosterItem(jid, name, groups=tuple(groups or ()))))
        return plan
    change = rewrite(have, edit_item(have, name=KEEP if name is None else name, groups=groups))
    if change is None:
        plan.skip(jid, "already in the roster as asked")
    else:
        plan.changes.append(change)
    return plan


def plan_remove(current: Sequence[RosterItem], jids: Sequence[str], *, missing_ok: bool = False) -> EditPlan:
    """``roster remove``: one removal per JID in the roster; the others refused (or skipped)."""
    plan = EditPlan()
    roster = {i.jid: i for i in current}
    for jid in jids:
        have = roster.get(jid)
        if have is not None:
            plan.changes.append(Change("remove", jid, have, None))
        elif missing_ok:
            plan.skip(jid, "not in the roster (--missing-ok)")
        else:
            # decided here, not by the server: ejabberd acknowledges removing an unknown JID
            # where RFC 6121 §2.5.3 requires item-not-found
            not_in_roster(plan, jid, "remove")
    return plan


def plan_set(current: Sequence[RosterItem], jid: str, *, name: str | None = KEEP, groups: Sequence[str] | None = None,
             add: Sequence[str] = (), remove: Sequence[str] = ()) -> EditPlan:
    """``roster set``: change name and/or groups of an existing item, keep everything else."""
    plan = EditPlan()
    have = _find(current, jid)
    if have is None:
        not_in_roster(plan, jid)
        return plan
    change = rewrite(have, edit_item(have, name=name, groups=groups, add=add, remove=remove))
    if change is None:
        plan.skip(jid, "already as asked")
    else:
        plan.changes.append(change)
    return plan


def plan_group_members(current: Sequence[RosterItem], group: str, jids: Sequence[str], *, add: bool) -> EditPlan:
    """``group add``/``group remove``: skip contacts already right, refuse those not in the roster."""
    planner, why = (add_group, "already in {group!r}") if add else (remove_group, "not in {group!r}")
    plan = EditPlan(changes=planner(current, group, jids))
    roster = {i.jid for i in current}
    changing = {c.jid for c in plan.changes}
    for jid in jids:
        if jid not in roster:
            not_in_roster(plan, jid)
        elif jid not in changing:
            plan.skip(jid, why.format(group=group))
    return plan


def require_group(current: Iterable[RosterItem], name: str) -> None:
    """A group exists only through its members: none is item-not-found (exit 6)."""
    if not any(name in item.groups for item in current):
        raise ServerRefused(f"group {name!r} not found: no contact is in it (item-not-found)", condition="item-not-found")


def plan_group_rename(current: Sequence[RosterItem], old: str, new: str) -> EditPlan:
    """``group rename``: one rewrite per member of *old* (a merge when *new* exists)."""
    require_group(current, old)
    return EditPlan(changes=rename_group(current, old, new))


def plan_group_delete(current: Sequence[RosterItem], group: str, *, remove_contacts: bool = False) -> EditPlan:
    """``group delete``: drop the label from every member, or remove the members."""
    require_group(current, group)
    return EditPlan(changes=delete_group(current, group, remove_contacts=remove_contacts))
