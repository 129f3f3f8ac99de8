"""Presence watch: a stream of presence changes and subscription requests as they arrive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..jid import bare_jids
from .inbox import PresenceInbox
from .model import READ_ONLY_PRIORITY, SUBSCRIPTION_TYPES, PresenceInfo, parse_presence, utc_iso
from .publish import initial_presence

if TYPE_CHECKING:
    from ..xmpp.session_api import SessionAPI

#: keys of a watch event, in this order (a documented contract)
WATCH_COLUMNS = ("at", "jid", "resource", "kind", "type", "show", "status", "priority", "since", "error")


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """One presence change (kind=presence) or subscription request/answer (kind=subscription)."""

    at: str
    jid: str
    resource: str | None
    kind: str  #: presence | subscription
    type: str  #: available | unavailable | error | subscribe | subscribed | unsubscribe | unsubscribed
    show: str | None = None
    status: str | None = None
    priority: int | None = None
    since: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in WATCH_COLUMNS}


def to_event(info: PresenceInfo, at: datetime | None = None) -> PresenceEvent | None:
    """The watch event for *info*; None for stanzas that are not changes (probes)."""
    if info.type == "probe":
        return None
    kind = "subscription" if info.type in SUBSCRIPTION_TYPES else "presence"
    available = info.type == "available"
    return PresenceEvent(
        at=utc_iso(at or datetime.now(timezone.utc)),
        jid=info.jid,
        resource=info.resource or None,
        kind=kind,
        type=info.type,
        show=(info.show or "available") if available else None,
        status=info.status,
        priority=info.priority if available else None,
        since=info.since,
        error=info.error,
    )


@dataclass
class WatchFilter:
    jids: frozenset[str] = field(default_factory=frozenset)
    #: bare JIDs of the members of the requested groups (None: no group filter)
    group_members: frozenset[str] | None = None

    def matches(self, jid: str) -> bool:
        if not self.jids and self.group_members is None:
            return True
        return jid in self.jids or (self.group_members is not None and jid in self.group_members)


async def watch(session: SessionAPI, inbox: PresenceInbox, stop: asyncio.Event, *, jids: Sequence[str] = (),
                groups: Iterable[str] = (), priority: int = READ_ONLY_PRIORITY, count: int | None = None,
                until: float | None = None) -> AsyncIterator[PresenceEvent]:
    """Yield presence events as they arrive until *count* events, *until* seconds, or *stop*.

    Our initial presence is what makes the server send us our contacts' changes; the answers
    to its implicit probe (the contacts' current presence) are therefore the first events.
    """
    wanted_groups = set(groups)
    filt = WatchFilter(jids=frozenset(bare_jids(list(jids))))
    if wanted_groups:
        from ..roster.items import fetch_roster

        roster = await fetch_roster(session)
        filt.group_members = frozenset(i.jid for i in roster if wanted_groups.intersection(i.groups))
    await initial_presence(session, priority)
    deadline = None if until is None else time.monotonic() + until
    seen = 0
    while count is None or seen < count:
        remaining = None if deadline is None else deadline - time.monotonic()
        el = await inbox.get(session, remaining, stop)
        if el is None:
            return
        info = parse_presence(el)
        # our own watch session's presence comes back to us: it is no change of anyone's
        if info is None or el.get("from") == session.jid or not filt.matches(info.jid):
            continue
        event = to_event(info)
        if event is None:
            continue
        seen += 1
        yield event
