"""Group operations as roster item rewrites.  Pure: current roster in, list of Change out.

Groups exist only as labels on roster items (RFC 6121 §2.1.2.5), so every group operation is
"rewrite each affected item completely" (a roster set replaces the whole item).  These
functions never look at the network; the caller fetches the roster in the same session,
plans here, shows the plan with --dry-run or applies it with ``roster.apply_changes``.
Contacts named by JID that are not in the roster are ignored here (the caller reports them);
contacts already in the wanted state produce no change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from .items import Change, RosterItem

#: the keys of ``group list`` rows in JSON/NDJSON/CSV output (members only with --with-members)
GROUP_COLUMNS = ("group", "count")
GROUP_COLUMNS_WITH_MEMBERS = ("group", "count", "members")

#: sentinel for "leave the name as it is" in :func:`edit_item`
KEEP: Any = object()


@dataclass(frozen=True, slots=True)
class GroupInfo:
    name: str
    members: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.members)

    def to_dict(self, with_members: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"group": self.name, "count": self.count}
        if with_members:
            data["members"] = list(self.members)
        return data


def list_groups(items: Iterable[RosterItem]) -> list[GroupInfo]:
    """Every group that has at least one member, sorted by name; members sorted by JID."""
    by_group: dict[str, list[str]] = {}
    for item in items:
        for group in item.groups:
            by_group.setdefault(group, []).append(item.jid)
    return [GroupInfo(name, tuple(sorted(jids))) for name, jids in sorted(by_group.items())]


def members(items: Iterable[RosterItem], group: str) -> list[RosterItem]:
    """The items in *group*, sorted by JID."""
    return sorted((item for item in items if group in item.groups), key=lambda item: item.jid)


def edit_item(
    item: RosterItem,
    *,
    name: str | None = KEEP,
    groups: Iterable[str] | None = None,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
) -> RosterItem:
    """*item* with only the asked fields changed: a new name (``None`` drops it), a new group set,
    and/or groups added and removed.  Everything else (other groups, subscription, the child
    elements and attributes other clients stored on the item) is kept."""
    new_groups = set(item.groups if groups is None else groups)
    new_groups |= set(add)
    new_groups -= set(remove)
    return replace(item, name=item.name if name is KEEP else name, groups=tuple(sorted(new_groups)))


def rewrite(before: RosterItem, after: RosterItem) -> Change | None:
    """The update that turns *before* into *after*, or None when name and groups are unchanged."""
    if before.name == after.name and tuple(sorted(before.groups)) == tuple(sorted(after.groups)):
        return None
    return Change("update", before.jid, before, after)


def _by_jid(items: Iterable[RosterItem]) -> dict[str, RosterItem]:
    return {item.jid: item for item in items}


def _rewrite_each(items: Iterable[RosterItem], jids: Iterable[str] | None, **edit: Any) -> list[Change]:
    roster = _by_jid(items)
    chosen = roster.values() if jids is None else [roster[j] for j in dict.fromkeys(jids) if j in roster]
    changes = [rewrite(item, edit_item(item, **edit)) for item in chosen]
    return sorted((c for c in changes if c is not None), key=lambda c: c.jid)


def add_group(items: Iterable[RosterItem], group: str, jids: Iterable[str]) -> list[Change]:
    """Put the contacts *jids* into *group*, keeping their other groups."""
    return _rewrite_each(items, jids, add=(group,))


def remove_group(items: Iterable[RosterItem], group: str, jids: Iterable[str]) -> list[Change]:
    """Take the contacts *jids* out of *group*, keeping their other groups and the contacts."""
    return _rewrite_each(items, jids, remove=(group,))


def rename_group(items: Iterable[RosterItem], old: str, new: str) -> list[Change]:
    """Rename *old* to *new* on every member; members already in *new* just lose *old* (merge)."""
    items = list(items)
    return _rewrite_each(items, [i.jid for i in items if old in i.groups], remove=(old,), add=(new,))


def delete_group(items: Iterable[RosterItem], group: str, *, remove_contacts: bool = False) -> list[Change]:
    """Drop *group* from every member and keep the contacts, or remove the members entirely."""
    items = list(items)
    if remove_contacts:
        return [Change("remove", item.jid, item, None) for item in members(items, group)]
    return _rewrite_each(items, [i.jid for i in items if group in i.groups], remove=(group,))
