"""Roster items (RFC 6121 §2): fetch and filter.  Edits live in their own modules."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..xmpp.ns import ROSTER_NS

if TYPE_CHECKING:
    from ..xmpp.session_api import SessionAPI

#: roster subscription states (RFC 6121 §2.1.2.5); the CLI's --subscription choices
SUBSCRIPTIONS = ("none", "to", "from", "both")
#: the keys of a roster item in JSON/NDJSON/CSV output, in this order (a documented contract)
ITEM_COLUMNS = ("jid", "name", "subscription", "ask", "groups")


#: item attributes xmppctl understands; any other one is kept in RosterItem.extra_attrs
KNOWN_ATTRS = frozenset(("jid", "name", "subscription", "ask", "approved"))
_GROUP_TAG = f"{{{ROSTER_NS}}}group"


@dataclass(frozen=True, slots=True)
class RosterItem:
    jid: str
    name: str | None = None
    subscription: str = "none"
    #: True when our own subscription request is pending (``ask="subscribe"``)
    ask: bool = False
    groups: tuple[str, ...] = field(default_factory=tuple)
    #: child elements other than <group/> that other clients stored on the item, as XML text.
    #: A roster set replaces the whole item, so every rewrite sends them back (item_element).
    #: Not part of any output, and not compared: items differing only here are equal.
    extra_children: tuple[str, ...] = field(default=(), compare=False, repr=False)
    #: (name, value) of attributes other than KNOWN_ATTRS, kept and sent back likewise
    extra_attrs: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jid": self.jid,
            "name": self.name,
            "subscription": self.subscription,
            "ask": self.ask,
            "groups": list(self.groups),
        }


def _xml_text(child: ET.Element) -> str:
    """*child* serialized on its own (without the whitespace that followed it in the item)."""
    if child.tail is not None:
        child = copy.copy(child)
        child.tail = None
    return ET.tostring(child, encoding="unicode")


def parse_item(el: ET.Element) -> RosterItem:
    groups: set[str] = set()
    extra: list[str] = []
    for child in el:
        if child.tag == _GROUP_TAG:
            if child.text:
                groups.add(child.text)
        else:
            extra.append(_xml_text(child))
    attrs = tuple((k, v) for k, v in el.attrib.items() if k not in KNOWN_ATTRS)
    return RosterItem(
        jid=el.get("jid", ""),
        name=el.get("name") or None,
        subscription=el.get("subscription", "none"),
        ask=el.get("ask") == "subscribe",
        groups=tuple(sorted(groups)),
        extra_children=tuple(extra),
        extra_attrs=attrs,
    )


def parse_roster(query: ET.Element | None) -> list[RosterItem]:
    """Items of a ``<query xmlns='jabber:iq:roster'>``, sorted by JID."""
    if query is None:
        return []
    items = [parse_item(el) for el in query.iterfind(f"{{{ROSTER_NS}}}item")]
    items.sort(key=lambda item: item.jid)
    return items


async def fetch_roster(session: SessionAPI) -> list[RosterItem]:
    """The account's whole roster as the server has it now (jabber:iq:roster get), sorted by JID."""
    result = await session.query("get", ET.Element(f"{{{ROSTER_NS}}}query"), what="roster get")
    return parse_roster(result.find(f"{{{ROSTER_NS}}}query"))


async def set_item(session: SessionAPI, item: RosterItem, *, what: str | None = None) -> None:
    """Add or replace *item*: one item per set, carrying back what other clients stored on it."""
    await _push(session, item_element(item), what or f"roster set for {item.jid}")


async def remove_item(session: SessionAPI, jid: str, *, what: str | None = None) -> None:
    """Remove *jid* from the roster (the server then cancels the subscriptions both ways)."""
    await _push(session, remove_element(jid), what or f"roster remove {jid}")


async def _push(session: SessionAPI, item: ET.Element, what: str) -> None:
    query = ET.Element(f"{{{ROSTER_NS}}}query")
    query.append(item)
    await session.query("set", query, what=what)


def filter_items(
    items: Iterable[RosterItem],
    *,
    groups: Iterable[str] = (),
    subscription: str | None = None,
    pending: bool = False,
    ungrouped: bool = False,
) -> list[RosterItem]:
    """Items matching every given filter; several groups match an item in any of them."""
    wanted = set(groups)
    out = []
    for item in items:
        if wanted and not wanted.intersection(item.groups):
            continue
        if subscription and item.subscription != subscription:
            continue
        if pending and not item.ask:
            continue
        if ungrouped and item.groups:
            continue
        out.append(item)
    return out


# ---- editing: validation, the pure plan, and pipelined application ------------------------

DEFAULT_WINDOW = 32


@dataclass(frozen=True, slots=True)
class Change:
    """One roster set: add a new item, update an existing one, or remove one."""

    action: str  # "add" | "update" | "remove"
    jid: str
    before: RosterItem | None
    after: RosterItem | None

    def fields(self) -> list[tuple[str, Any, Any]]:
        """(field, old, new) for every field this change alters."""
        old = self.before or RosterItem(self.jid)
        new = self.after or RosterItem(self.jid)
        out: list[tuple[str, Any, Any]] = []
        if self.action == "remove":
            return [("item", old.to_dict(), None)]
        if old.name != new.name:
            out.append(("name", old.name, new.name))
        if old.groups != new.groups:
            out.append(("groups", list(old.groups), list(new.groups)))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "jid": self.jid,
            "changes": [{"field": f, "old": o, "new": n} for f, o, n in self.fields()],
        }


@dataclass
class RosterPlan:
    changes: list[Change]
    unchanged: int = 0

    @property
    def drift(self) -> bool:
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        c = {"add": 0, "update": 0, "remove": 0}
        for ch in self.changes:
            c[ch.action] += 1
        c["unchanged"] = self.unchanged
        return c


def plan_roster(
    current: Iterable[RosterItem],
    desired: Iterable[RosterItem],
    *,
    prune: bool = False,
    names: bool = True,
    groups: bool = True,
) -> RosterPlan:
    """Pure: the roster sets that turn *current* into *desired*.

    Only name and groups are synchronised (subscription state is the server's business).
    ``names=False``/``groups=False`` leave that field as it is on existing items and omit it on
    new ones.  Without ``prune`` nothing is removed.  Changes are sorted by JID.
    """
    by_jid = {item.jid: item for item in current}
    changes: list[Change] = []
    unchanged = 0
    seen: set[str] = set()
    for want in desired:
        seen.add(want.jid)
        have = by_jid.get(want.jid)
        if have is None:
            after = RosterItem(want.jid, want.name if names else None, "none", False, want.groups if groups else ())
            changes.append(Change("add", want.jid, None, after))
            continue
        # from the current item, so what xmppctl does not manage (extra_children...) is kept
        after = replace(have, name=want.name if names else have.name, groups=want.groups if groups else have.groups)
        if after.name == have.name and after.groups == have.groups:
            unchanged += 1
        else:
            changes.append(Change("update", have.jid, have, after))
    if prune:
        changes.extend(Change("remove", jid, item, None) for jid, item in by_jid.items() if jid not in seen)
    changes.sort(key=lambda c: c.jid)
    return RosterPlan(changes, unchanged)


def item_element(item: RosterItem) -> ET.Element:
    """``<item/>`` for a roster set: jid, name, groups, and the extensions other clients stored
    on it (a set replaces the whole item); never ask/approved/subscription."""
    el = ET.Element(f"{{{ROSTER_NS}}}item", {"jid": item.jid})
    for key, value in item.extra_attrs:
        el.set(key, value)
    if item.name:
        el.set("name", item.name)
    for group in sorted(set(item.groups)):
        ET.SubElement(el, _GROUP_TAG).text = group
    for xml in item.extra_children:
        el.append(ET.fromstring(xml))
    return el


def remove_element(jid: str) -> ET.Element:
    return ET.Element(f"{{{ROSTER_NS}}}item", {"jid": jid, "subscription": "remove"})


@dataclass(frozen=True, slots=True)
class ChangeResult:
    change: Change
    ok: bool
    error: str | None = None  # stanza error condition, "timeout" or "connection-lost"
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.change.action, "jid": self.change.jid, "ok": self.ok,
                "error": self.error, "message": self.message}


async def apply_change(session: SessionAPI, change: Change) -> ChangeResult:
    """Send one roster set (RFC 6121: exactly one item per set) and report how it went."""
    from ..errors import ConnectionFailure, ServerRefused, TimeoutFailure

    what = f"roster {change.action} {change.jid}"
    try:
        if change.action == "remove":
            await remove_item(session, change.jid, what=what)
        else:
            await set_item(session, change.after, what=what)  # type: ignore[arg-type]
    except ServerRefused as exc:
        return ChangeResult(change, False, exc.condition, exc.message)
    except TimeoutFailure as exc:
        return ChangeResult(change, False, "timeout", exc.message)
    except ConnectionFailure as exc:
        return ChangeResult(change, False, "connection-lost", exc.message)
    return ChangeResult(change, True)


async def apply_changes(
    session: SessionAPI,
    changes: list[Change],
    results: list[ChangeResult],
    *,
    window: int = DEFAULT_WINDOW,
    progress: Any = None,
) -> list[ChangeResult]:
    """Pipeline the roster sets, at most *window* in flight, appending to *results* as each ends.

    *results* is the caller's list so that, if the run is interrupted, the caller still knows
    exactly what was applied.  *progress*, if given, is called with each result.  After the
    connection is lost the remaining changes are reported as failed without being sent.
    """
    import asyncio

    pending = iter(changes)

    # *window* workers pulling from one iterator: the same pipelining as a task per change
    # behind a semaphore, without a thousand waiting tasks for a thousand-contact import.
    async def worker() -> None:
        for change in pending:
            if session.closed.done():
                result = ChangeResult(change, False, "connection-lost", "not sent: connection lost")
            else:
                result = await apply_change(session, change)
            results.append(result)
            if progress is not None:
                progress(result)

    tasks = [asyncio.ensure_future(worker()) for _ in range(min(max(1, window), len(changes)))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        raise
    return results


def raise_for_results(results: list[ChangeResult], what: str = "roster") -> None:
    """Raise for failed changes by the one exit rule (xmppctl.errors.combined_exit_code): 6 when
    every change was refused (e.g. every contact unknown), 7 when some were applied."""
    from ..errors import ServerRefused, items_failure

    failed = [r for r in results if not r.ok]
    if not failed:
        return
    if len(results) == 1:
        r = failed[0]
        exc = items_failure([(r.change.jid, r.error)], applied=False,
                            message=r.message or f"{r.change.action} {r.change.jid} failed: {r.error}",
                            details=[r.to_dict()])
        if isinstance(exc, ServerRefused):
            exc.condition = r.error
        raise exc
    listing = ", ".join(f"{r.change.jid} ({r.error})" for r in failed[:5]) + (" …" if len(failed) > 5 else "")
    raise items_failure([(r.change.jid, r.error) for r in failed], applied=len(failed) < len(results),
                        message=f"{len(failed)} of {len(results)} {what} changes failed: {listing}",
                        details=[r.to_dict() for r in failed])
