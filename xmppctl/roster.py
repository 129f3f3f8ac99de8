"""Roster items (RFC 6121 §2): fetch and filter.  Edits live in their own modules."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .session import Session

ROSTER_NS = "jabber:iq:roster"
SUBSCRIPTIONS = ("none", "to", "from", "both")
#: the keys of a roster item in JSON/NDJSON/CSV output, in this order (a documented contract)
ITEM_COLUMNS = ("jid", "name", "subscription", "ask", "groups")


@dataclass(frozen=True, slots=True)
class RosterItem:
    jid: str
    name: str | None = None
    subscription: str = "none"
    #: True when our own subscription request is pending (``ask="subscribe"``)
    ask: bool = False
    groups: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jid": self.jid,
            "name": self.name,
            "subscription": self.subscription,
            "ask": self.ask,
            "groups": list(self.groups),
        }


def parse_item(el: ET.Element) -> RosterItem:
    groups = sorted({g.text for g in el.iter(f"{{{ROSTER_NS}}}group") if g.text})
    return RosterItem(
        jid=el.get("jid", ""),
        name=el.get("name") or None,
        subscription=el.get("subscription", "none"),
        ask=el.get("ask") == "subscribe",
        groups=tuple(groups),
    )


def parse_roster(query: ET.Element | None) -> list[RosterItem]:
    """Items of a ``<query xmlns='jabber:iq:roster'>``, sorted by JID."""
    if query is None:
        return []
    items = [parse_item(el) for el in query.iterfind(f"{{{ROSTER_NS}}}item")]
    items.sort(key=lambda item: item.jid)
    return items


async def fetch_roster(session: Session) -> list[RosterItem]:
    """The account's whole roster as the server has it now (jabber:iq:roster get)."""
    iq = session.make_iq("get", ET.Element(f"{{{ROSTER_NS}}}query"))
    result = await session.request(iq, what="roster get")
    return parse_roster(result.find(f"{{{ROSTER_NS}}}query"))


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
