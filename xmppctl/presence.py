"""Presence (RFC 6121 §4): set it, take a snapshot of the contacts' presence (probe), watch it.

Presences are read from the raw incoming stream (a :class:`PresenceInbox` installed as the
session's ``stanza_hook``), never from slixmpp's presence events: slixmpp keeps its own roster
cache and answers some stanzas by itself, and its events can arrive after we have moved on.

Probe (see shared/PROTOCOL.md): our initial presence makes the server probe every contact we
are subscribed to (``to``/``both``); each available resource answers with its presence and an
offline contact answers ``unavailable`` (Prosody) — there is no end marker.  So the probe
knows up front who will answer, stops as soon as all of them have, and otherwise stops at the
deadline; contacts we are not subscribed to would never answer and are not waited for.
"""

from __future__ import annotations

import asyncio
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .errors import ConnectionFailure, UsageError
from .jid import bare_jids, parse_jid
from .text import validate_status

if TYPE_CHECKING:
    from .roster import RosterItem
    from .session import Session

CLIENT_NS = "jabber:client"
PRESENCE_TAG = f"{{{CLIENT_NS}}}presence"
DELAY_NS = "urn:xmpp:delay"
LAST_NS = "jabber:iq:last"
PING_NS = "urn:xmpp:ping"

SHOWS = ("chat", "away", "xa", "dnd")
#: what ``--show`` accepts: the four RFC values plus "available" (no <show/> element)
SHOW_CHOICES = ("chat", "away", "xa", "dnd", "available")
PRIORITY_MIN, PRIORITY_MAX = -128, 127
#: the read-only commands' default: a negative priority keeps offline messages for real clients
READ_ONLY_PRIORITY = -1
SUBSCRIPTION_TYPES = ("subscribe", "subscribed", "unsubscribe", "unsubscribed")
#: roster subscription states under which the server probes the contact for us
PROBED_SUBSCRIPTIONS = ("to", "both")

#: probe row states (a documented contract)
STATES = ("online", "offline", "no-subscription", "not-in-roster", "error", "timeout")
#: keys of a probe row in JSON/NDJSON/CSV output, in this order (a documented contract)
PROBE_COLUMNS = ("jid", "resource", "state", "show", "status", "priority", "since", "last_seen", "idle", "error")
#: keys of a watch event, in this order (a documented contract)
WATCH_COLUMNS = ("at", "jid", "resource", "kind", "type", "show", "status", "priority", "since", "error")
#: keys of the record ``presence set`` prints
SET_COLUMNS = ("jid", "type", "show", "status", "priority", "to", "hold")


# --- validation (pure) --------------------------------------------------------------------


def parse_show(value: str | None) -> str | None:
    """The <show/> value for *value*; None for "available"/absent.  Anything else is exit 2."""
    if value is None:
        return None
    norm = value.strip().lower()
    if norm not in SHOW_CHOICES:
        raise UsageError(f"invalid show {value!r}: expected one of {', '.join(SHOW_CHOICES)}")
    return None if norm == "available" else norm


def check_priority(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise UsageError(f"invalid priority {value!r}: expected an integer from {PRIORITY_MIN} to {PRIORITY_MAX}")
    return value


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: str, *, option: str, allow_forever: bool = False) -> float | None:
    """Seconds in "90", "90s", "1.5m", "1h30m", "250ms" (> 0); None for "forever" when allowed."""
    text = value.strip().lower()
    if allow_forever and text in ("forever", "inf", "infinity"):
        return None
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not text or pos != len(text) or total <= 0:
        hint = " or 'forever'" if allow_forever else ""
        raise UsageError(f"invalid {option} {value!r}: expected a positive duration like 30, 30s, 5m, 1h30m{hint}")
    return total


# --- what arrives (pure) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PresenceInfo:
    """One incoming presence stanza, parsed."""

    jid: str  #: bare JID of the sender
    resource: str
    type: str  #: available | unavailable | subscribe... | error | probe
    show: str | None = None  #: chat|away|xa|dnd; None when absent
    status: str | None = None
    priority: int = 0
    since: str | None = None  #: XEP-0203 delay stamp
    error: str | None = None  #: error condition for type=error
    error_text: str | None = None


def _text(el: ET.Element, name: str) -> str | None:
    child = el.find(f"{{{CLIENT_NS}}}{name}")
    return child.text if child is not None and child.text is not None else None


def parse_presence(el: ET.Element) -> PresenceInfo | None:
    """Parse a ``<presence/>``; None for anything else or an unusable sender."""
    if el.tag != PRESENCE_TAG:
        return None
    sender = el.get("from")
    if not sender:
        return None
    try:
        jid = parse_jid(sender)
    except UsageError:
        return None
    ptype = el.get("type") or "available"
    show = _text(el, "show")
    if show is not None:
        show = show.strip()
        show = show if show in SHOWS else None  # RFC: an unknown value is treated as available
    priority = 0
    raw = _text(el, "priority")
    if raw is not None:
        try:
            priority = max(PRIORITY_MIN, min(PRIORITY_MAX, int(raw.strip())))
        except ValueError:
            pass
    since = None
    delay = el.find(f"{{{DELAY_NS}}}delay")
    if delay is not None:
        since = delay.get("stamp")
    error = error_text = None
    if ptype == "error":
        from .session import stanza_error

        error, error_text = stanza_error(el)
        error_text = error_text or None
    return PresenceInfo(jid=jid.bare, resource=jid.resource, type=ptype, show=show, status=_text(el, "status"),
                        priority=priority, since=since, error=error, error_text=error_text)


class PresenceInbox:
    """Collects incoming presence stanzas; install :meth:`hook` as the session's stanza_hook."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[ET.Element] = asyncio.Queue()

    def hook(self, el: ET.Element) -> None:
        if el.tag == PRESENCE_TAG:
            self._queue.put_nowait(el)

    def get_nowait(self) -> ET.Element | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def get(self, session: Session, timeout: float | None, stop: asyncio.Event | None = None) -> ET.Element | None:
        """The next presence; None at *timeout* or when *stop* is set; ConnectionFailure if the stream closes."""
        ready = self.get_nowait()
        if ready is not None:
            return ready
        if timeout is not None and timeout <= 0:
            return None
        getter = asyncio.ensure_future(self._queue.get())
        waits: set[asyncio.Future] = {getter, session.closed}
        stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
        if stopper is not None:
            waits.add(stopper)
        try:
            done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if stopper is not None:
                stopper.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        if session.closed in done:
            raise ConnectionFailure("connection lost")
        return None


# --- set ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PresenceRequest:
    """A validated presence to send: broadcast (no ``to``) or directed to each JID in ``to``."""

    type: str = "available"  #: available | unavailable
    show: str | None = None
    status: str | None = None
    priority: int | None = None
    to: tuple[str, ...] = ()


def make_request(*, show: str | None = None, status: str | None = None, priority: int | None = None,
                 to: Sequence[str] = (), unavailable: bool = False) -> PresenceRequest:
    """Validate everything a ``presence set`` was given; UsageError (exit 2) before anything is sent."""
    shown = parse_show(show)
    if unavailable and show is not None:
        raise UsageError("--unavailable takes no --show (an unavailable presence has no show)")
    targets: dict[str, None] = {}
    for value in to:
        targets.setdefault(parse_jid(value).full, None)
    return PresenceRequest(type="unavailable" if unavailable else "available", show=shown,
                           status=validate_status(status, "--status"), priority=check_priority(priority), to=tuple(targets))


def send_presence(session: Session, req: PresenceRequest) -> None:
    """Send *req*: one broadcast presence, or one directed presence per target."""
    for target in req.to or (None,):
        session.send_presence(to=target, type=req.type, show=req.show, status=req.status, priority=req.priority)


async def publish(session: Session, req: PresenceRequest) -> None:
    """Send *req*; a broadcast available presence at priority >= 0 (which makes servers flush
    stored offline messages) is preceded by the XEP-0013 request that keeps them stored where
    the server supports it.  Messages that reach the session anyway go to its StrayKeeper."""
    if req.type == "available" and not req.to and (req.priority is None or req.priority >= 0):
        await session.keep_offline_messages_stored()
    send_presence(session, req)


async def hold_presence(session: Session, req: PresenceRequest, hold: float | None, stop: asyncio.Event) -> str:
    """Keep the session (and the presence just sent) up for *hold* seconds (None: forever) or
    until *stop* is set, then send unavailable to the same audience.  Returns why it ended.
    """
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({stopper, session.closed}, timeout=hold, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if session.closed in done:
        raise ConnectionFailure("connection lost while holding presence")
    send_presence(session, PresenceRequest(type="unavailable", to=req.to))
    # A round trip makes sure the server has the unavailable before the stream is closed.
    await barrier(session)
    return "signal" if stopper in done else "time"


async def barrier(session: Session, timeout: float | None = None) -> None:
    """Ping our own server and wait for the answer: everything the server wrote to us before
    (e.g. a contact's other resources' probe answers) has then been seen by the stanza hook.
    """
    from .errors import ServerRefused

    try:
        await session.query("get", ET.Element(f"{{{PING_NS}}}ping"), to=session.bare_jid.partition("@")[2],
                            timeout=timeout, what="ping")
    except ServerRefused:  # an error answer is still an answer: the stream is in sync
        pass


# --- probe --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PresenceRow:
    """One row of a probe: a contact resource (online) or the contact itself (any other state)."""

    jid: str
    state: str
    resource: str | None = None
    show: str | None = None
    status: str | None = None
    priority: int | None = None
    since: str | None = None
    last_seen: str | None = None
    idle: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in PROBE_COLUMNS}


@dataclass
class PresenceSnapshot:
    rows: list[PresenceRow]
    #: contacts the server was expected to answer for (subscription to/both)
    expected: int = 0
    #: how many of them answered before the deadline
    answered: int = 0
    elapsed: float = 0.0

    @property
    def complete(self) -> bool:
        return self.answered == self.expected


def select_targets(roster: Sequence[RosterItem], jids: Sequence[str] = (), groups: Iterable[str] = ()) -> list[str]:
    """Bare JIDs to report on: the given ones plus members of *groups*; the whole roster if neither."""
    wanted_groups = set(groups)
    chosen: dict[str, None] = dict.fromkeys(bare_jids(list(jids)))
    if wanted_groups:
        for item in roster:
            if wanted_groups.intersection(item.groups):
                chosen.setdefault(item.jid, None)
    if not jids and not wanted_groups:
        chosen = dict.fromkeys(item.jid for item in roster)
    return list(chosen)


class ProbeCollector:
    """Pure bookkeeping of a probe: who must answer, what they said, when it is over."""

    def __init__(self, own_jid: str, targets: Sequence[str], roster: Sequence[RosterItem]):
        self.own = parse_jid(own_jid).bare
        self.targets = list(targets)
        items = {item.jid: item for item in roster}
        self.fixed: dict[str, str] = {}
        self.expected: set[str] = set()
        for jid in self.targets:
            item = items.get(jid)
            if item is None:
                self.fixed[jid] = "not-in-roster"
            elif item.subscription in PROBED_SUBSCRIPTIONS:
                self.expected.add(jid)
            else:
                self.fixed[jid] = "no-subscription"
        self.answered: set[str] = set()
        self.resources: dict[str, dict[str, PresenceInfo]] = {}
        self.final: dict[str, PresenceInfo] = {}  # the last non-available answer (offline/error)
        self.last_seen: dict[str, tuple[str, int]] = {}  # jid -> (last_seen, idle) from XEP-0012

    @property
    def unanswered(self) -> set[str]:
        return self.expected - self.answered

    def settle_offline(self, jid: str, seconds: int, status: str | None, now: datetime) -> bool:
        """Take a XEP-0012 answer as the offline answer the server did not send (ejabberd).

        XEP-0012: a contact with an available resource answers seconds=0 and no text, so a
        positive count or a status text means offline.  A zero without text proves nothing:
        the contact stays unanswered (its presence may still be on the way).
        """
        if jid not in self.unanswered or (seconds <= 0 and not status):
            return False
        self.final[jid] = PresenceInfo(jid=jid, resource="", type="unavailable", status=status)
        self.last_seen[jid] = (_utc_iso(now - timedelta(seconds=seconds)), seconds)
        self.answered.add(jid)
        return True

    @property
    def done(self) -> bool:
        return self.answered >= self.expected

    def feed(self, info: PresenceInfo | None) -> None:
        if info is None or info.jid == self.own or info.jid not in self.expected:
            return
        if info.type == "available":
            self.resources.setdefault(info.jid, {})[info.resource] = info
            self.final.pop(info.jid, None)
        elif info.type == "unavailable":
            resources = self.resources.get(info.jid, {})
            resources.pop(info.resource, None)
            if not resources:
                self.final[info.jid] = info
        elif info.type in ("error", "unsubscribed"):
            if not self.resources.get(info.jid):
                self.final[info.jid] = info
        else:  # subscribe requests and the like are no answer to a probe
            return
        self.answered.add(info.jid)

    def rows(self) -> list[PresenceRow]:
        """One row per online resource (highest priority first), one per contact otherwise; by JID."""
        out: list[PresenceRow] = []
        for jid in sorted(self.targets):
            if jid in self.fixed:
                out.append(PresenceRow(jid=jid, state=self.fixed[jid]))
                continue
            resources = self.resources.get(jid)
            if resources:
                ordered = sorted(resources.values(), key=lambda i: (-i.priority, i.resource))
                out.extend(PresenceRow(jid=jid, state="online", resource=i.resource or None, show=i.show or "available",
                                       status=i.status, priority=i.priority, since=i.since) for i in ordered)
                continue
            info = self.final.get(jid)
            if info is None:
                out.append(PresenceRow(jid=jid, state="timeout"))
            elif info.type == "unavailable":
                last_seen, idle = self.last_seen.get(jid, (None, None))
                out.append(PresenceRow(jid=jid, state="offline", status=info.status, since=info.since,
                                       last_seen=last_seen, idle=idle))
            elif info.type == "unsubscribed":
                out.append(PresenceRow(jid=jid, state="no-subscription"))
            else:
                out.append(PresenceRow(jid=jid, state="error", status=info.error_text, error=info.error))
        return out


async def _initial_presence(session: Session, priority: int) -> None:
    if priority >= 0:  # an explicit choice: keep stored messages stored where XEP-0013 allows it
        await session.keep_offline_messages_stored()
    session.send_initial_presence(priority)


async def probe(session: Session, inbox: PresenceInbox, *, jids: Sequence[str] = (), groups: Iterable[str] = (),
                priority: int = READ_ONLY_PRIORITY, last: bool = False) -> PresenceSnapshot:
    """Snapshot of the selected contacts' presence (see the module docstring for how it ends)."""
    from .roster import fetch_roster

    t0 = time.monotonic()
    roster = await fetch_roster(session)
    collector = ProbeCollector(session.bare_jid, select_targets(roster, jids, groups), roster)
    if collector.expected:
        deadline = time.monotonic() + session.timeout
        await _initial_presence(session, priority)
        settled = asyncio.Event()
        fallback = asyncio.ensure_future(_offline_evidence(session, collector, settled))
        try:
            while not collector.done:
                el = await inbox.get(session, deadline - time.monotonic(), settled)
                if el is not None:
                    collector.feed(parse_presence(el))
                elif settled.is_set() and time.monotonic() < deadline:
                    settled.clear()
                else:
                    break
        finally:
            fallback.cancel()
        if collector.done:
            # The first answer of a contact may be followed by its other resources' answers.
            await barrier(session, timeout=max(0.5, deadline - time.monotonic()))
            while (el := inbox.get_nowait()) is not None:
                collector.feed(parse_presence(el))
    rows = collector.rows()
    if last:
        rows = await add_last_activity(session, rows)
    return PresenceSnapshot(rows=rows, expected=len(collector.expected), answered=len(collector.answered & collector.expected),
                            elapsed=time.monotonic() - t0)


async def _offline_evidence(session: Session, collector: ProbeCollector, settled: asyncio.Event) -> None:
    """Ask XEP-0012 about the contacts still silent once the server has handled our presence.

    Prosody answers a probe of an offline contact with ``unavailable``; ejabberd sends nothing,
    which would leave every offline contact waiting for the deadline.  After a ping round trip
    the server has processed our initial presence (on Prosody everyone local has answered by
    then, so nothing is asked); the silent ones get one ``jabber:iq:last`` each, in parallel.

    A contact that went offline less than a second ago reads ``seconds=0`` without a status,
    like an available one (XEP-0012 counts whole seconds): those are asked again a second
    later, until they answer with presence, read as offline, or the main loop's deadline.
    """
    from .errors import XmppctlError

    try:
        await barrier(session)
        silent = sorted(collector.unanswered)
        while silent:
            answers = await asyncio.gather(*(last_activity(session, jid) for jid in silent))
            now = datetime.now(timezone.utc)
            silent = [jid for jid, answer in zip(silent, answers)
                      if answer is not None and not collector.settle_offline(jid, answer[0], answer[1], now)]
            settled.set()
            if silent:
                await asyncio.sleep(1.0)
                silent = [jid for jid in silent if jid in collector.unanswered]
    except XmppctlError:  # the main loop's deadline decides what becomes of the silent ones
        return


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


#: the earliest "last seen" a XEP-0012 answer may claim; an older one (a huge ``seconds``, e.g.
#: an uninitialised counter) is nonsense and, past year 1, would overflow datetime arithmetic
_EARLIEST_LAST_SEEN = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_last_activity(result: ET.Element | None, now: datetime) -> tuple[int, str | None] | None:
    """(seconds, status) from a XEP-0012 result; None when it has no usable count.

    A negative count, or one that would put the last activity before 1970, is treated as
    unknown rather than trusted (a contact's server is not ours to believe blindly).
    """
    query = result.find(f"{{{LAST_NS}}}query") if result is not None else None
    try:
        seconds = int(query.get("seconds", "")) if query is not None else None
    except ValueError:
        return None
    if seconds is None or not 0 <= seconds <= (now - _EARLIEST_LAST_SEEN).total_seconds():
        return None
    return seconds, (query.text or None)


async def last_activity(session: Session, jid: str) -> tuple[int, str | None] | None:
    """XEP-0012 seconds since *jid* was last online and its last status; None if refused, unsupported or absurd."""
    from .errors import ServerRefused, TimeoutFailure

    try:
        result = await session.query("get", ET.Element(f"{{{LAST_NS}}}query"), to=jid, what=f"last activity of {jid}")
    except (ServerRefused, TimeoutFailure):
        return None
    return parse_last_activity(result, datetime.now(timezone.utc))


async def add_last_activity(session: Session, rows: list[PresenceRow]) -> list[PresenceRow]:
    """Fill last_seen/idle (and an empty status) of offline rows via XEP-0012, queried in parallel."""
    offline = [i for i, row in enumerate(rows) if row.state == "offline" and row.last_seen is None]
    answers = await asyncio.gather(*(last_activity(session, rows[i].jid) for i in offline))
    now = datetime.now(timezone.utc)
    out = list(rows)
    for i, answer in zip(offline, answers):
        if answer is None:
            continue
        seconds, status = answer
        out[i] = replace(out[i], idle=seconds, last_seen=_utc_iso(now - timedelta(seconds=seconds)),
                         status=out[i].status or status)
    return out


# --- watch --------------------------------------------------------------------------------


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
        at=_utc_iso(at or datetime.now(timezone.utc)),
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


async def watch(session: Session, inbox: PresenceInbox, stop: asyncio.Event, *, jids: Sequence[str] = (),
                groups: Iterable[str] = (), priority: int = READ_ONLY_PRIORITY, count: int | None = None,
                until: float | None = None) -> AsyncIterator[PresenceEvent]:
    """Yield presence events as they arrive until *count* events, *until* seconds, or *stop*.

    Our initial presence is what makes the server send us our contacts' changes; the answers
    to its implicit probe (the contacts' current presence) are therefore the first events.
    """
    wanted_groups = set(groups)
    filt = WatchFilter(jids=frozenset(bare_jids(list(jids))))
    if wanted_groups:
        from .roster import fetch_roster

        roster = await fetch_roster(session)
        filt.group_members = frozenset(i.jid for i in roster if wanted_groups.intersection(i.groups))
    await _initial_presence(session, priority)
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
