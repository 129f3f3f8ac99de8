"""Presence probe: a snapshot of the contacts' presence, ended as soon as it is complete.

Our initial presence makes the server probe every contact we are subscribed to
(``to``/``both``); each available resource answers with its presence and an offline contact
answers ``unavailable`` (Prosody) or nothing (ejabberd, see docs/protocol-notes.md) — there is
no end marker.  So the probe knows up front who will answer, stops as soon as all of them
have, asks XEP-0012 last activity about the silent ones, and otherwise stops at the
deadline; contacts we are not subscribed to would never answer and are not waited for.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..jid import bare_jids, parse_jid
from .inbox import PresenceInbox
from .model import READ_ONLY_PRIORITY, PresenceInfo, parse_presence, utc_iso
from .publish import barrier, become_invisible, initial_presence
from ..xmpp.ns import DATA_NS, DISCO_INFO_NS, LAST_NS, SOFTWARE_INFO_FORM, VERSION_NS

if TYPE_CHECKING:
    from ..roster.items import RosterItem
    from ..xmpp.session_api import SessionAPI

#: roster subscription states under which the server probes the contact for us
PROBED_SUBSCRIPTIONS = ("to", "both")
#: keys of a probe row in JSON/NDJSON/CSV output, in this order (a documented contract)
PROBE_COLUMNS = ("jid", "resource", "state", "show", "status", "priority", "since", "last_seen", "idle", "error", "ask")
#: the extra keys of a probe row with --details
DETAIL_COLUMNS = ("client", "idle_since")


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
    #: our own subscription request to the contact is pending (roster ask=subscribe); None when not in the roster
    ask: bool | None = None
    client: str | None = None  #: --details: client software of an online resource (XEP-0115/0092)
    idle_since: str | None = None  #: --details: XEP-0319 idle stamp of an online resource

    def to_dict(self, details: bool = False) -> dict[str, Any]:
        return {c: getattr(self, c) for c in PROBE_COLUMNS + (DETAIL_COLUMNS if details else ())}


@dataclass
class PresenceSnapshot:
    rows: list[PresenceRow]


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
        self.asks: dict[str, bool] = {jid: items[jid].ask for jid in self.targets if jid in items}
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
        self.last_seen[jid] = (utc_iso(now - timedelta(seconds=seconds)), seconds)
        self.answered.add(jid)
        return True

    @property
    def done(self) -> bool:
        return self.answered >= self.expected

    def wanted(self, sender: str | None) -> bool:
        """Whether a presence from *sender* can concern the probe, without parsing it: our
        initial presence brings the answers of the whole roster, however few contacts are
        asked about.  Exact for ASCII JIDs (their normal form is the lower case, the domain
        without a trailing dot, as in jid.parse_jid); any other is parsed (True)."""
        bare = (sender or "").partition("/")[0]
        if not bare.isascii():
            return True
        local, at, domain = bare.rpartition("@")
        return f"{local.lower()}{at}{domain.rstrip('.').lower()}" in self.expected

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
                                       status=i.status, priority=i.priority, since=i.since, idle_since=i.idle_since)
                           for i in ordered)
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
        return [replace(row, ask=self.asks.get(row.jid)) for row in out]


def not_online(rows: Iterable[PresenceRow]) -> list[str]:
    """The contacts among *rows* without any online resource (for ``--expect-online``), sorted."""
    seen: set[str] = set()
    online: set[str] = set()
    for row in rows:
        seen.add(row.jid)
        if row.state == "online":
            online.add(row.jid)
    return sorted(seen - online)


async def probe(session: SessionAPI, inbox: PresenceInbox, *, jids: Sequence[str] = (), groups: Iterable[str] = (),
                priority: int = READ_ONLY_PRIORITY, last: bool = False, details: bool = False,
                invisible: bool = False) -> PresenceSnapshot:
    """Snapshot of the selected contacts' presence (see the module docstring for how it ends).

    *invisible*: first make the session invisible (:func:`become_invisible`; ServerRefused,
    with nothing else sent, where the server lacks XEP-0186).
    """
    from ..roster.items import fetch_roster

    if invisible:
        await become_invisible(session)
    roster = await fetch_roster(session)
    collector = ProbeCollector(session.bare_jid, select_targets(roster, jids, groups), roster)
    deadline = time.monotonic() + session.timeout
    if collector.expected:
        await initial_presence(session, priority)
        settled = asyncio.Event()
        fallback = asyncio.ensure_future(_offline_evidence(session, collector, settled))
        try:
            while not collector.done:
                el = await inbox.get(session, deadline - time.monotonic(), settled)
                if el is not None:
                    if collector.wanted(el.get("from")):
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
                if collector.wanted(el.get("from")):
                    collector.feed(parse_presence(el))
    rows = collector.rows()
    if details:
        rows = await add_client_software(session, rows, collector.resources, deadline)
    if last:
        rows = await add_last_activity(session, rows)
    return PresenceSnapshot(rows=rows)


#: XEP-0012 queries of a probe in flight at once: each pending IQ is matched against every
#: incoming stanza by slixmpp, and contacts that answer meanwhile need no query at all
LAST_ACTIVITY_WINDOW = 8


async def _offline_evidence(session: SessionAPI, collector: ProbeCollector, settled: asyncio.Event) -> None:
    """Ask XEP-0012 about the contacts still silent once the server has handled our presence.

    Prosody answers a probe of an offline contact with ``unavailable``; ejabberd sends nothing,
    which would leave every offline contact waiting for the deadline.  After a ping round trip
    the server has processed our initial presence, but its probe answers may still be on the
    way (Prosody answers the ping first with a big roster): so the silent ones are asked a few
    at a time (LAST_ACTIVITY_WINDOW), each only if it is still silent when its turn comes,
    and each answer that says offline settles its contact at once (*settled* wakes the probe).

    A contact that went offline less than a second ago reads ``seconds=0`` without a status,
    like an available one (XEP-0012 counts whole seconds): those are asked again a second
    later, until they answer with presence, read as offline, or the main loop's deadline.
    """
    from ..errors import XmppctlError

    async def ask(queue: Iterator[str], again: list[str]) -> None:
        for jid in queue:
            if jid not in collector.unanswered:
                continue
            answer = await last_activity(session, jid)
            if answer is None:
                continue
            if collector.settle_offline(jid, answer[0], answer[1], datetime.now(timezone.utc)):
                settled.set()
            else:
                again.append(jid)

    try:
        await barrier(session)
        silent = sorted(collector.unanswered)
        while silent:
            queue, again = iter(silent), []
            await asyncio.gather(*(ask(queue, again) for _ in range(min(LAST_ACTIVITY_WINDOW, len(silent)))))
            settled.set()
            if again:
                await asyncio.sleep(1.0)
            silent = sorted(jid for jid in again if jid in collector.unanswered)
    except XmppctlError:  # the main loop's deadline decides what becomes of the silent ones
        return


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


async def last_activity(session: SessionAPI, jid: str) -> tuple[int, str | None] | None:
    """XEP-0012 seconds since *jid* was last online and its last status; None if refused, unsupported or absurd."""
    from ..errors import ServerRefused, TimeoutFailure

    try:
        result = await session.query("get", ET.Element(f"{{{LAST_NS}}}query"), to=jid, what=f"last activity of {jid}")
    except (ServerRefused, TimeoutFailure):
        return None
    return parse_last_activity(result, datetime.now(timezone.utc))


async def add_last_activity(session: SessionAPI, rows: list[PresenceRow]) -> list[PresenceRow]:
    """Fill last_seen/idle (and an empty status) of offline rows via XEP-0012, queried in parallel."""
    offline = [i for i, row in enumerate(rows) if row.state == "offline" and row.last_seen is None]
    answers = await asyncio.gather(*(last_activity(session, rows[i].jid) for i in offline))
    now = datetime.now(timezone.utc)
    out = list(rows)
    for i, answer in zip(offline, answers):
        if answer is None:
            continue
        seconds, status = answer
        out[i] = replace(out[i], idle=seconds, last_seen=utc_iso(now - timedelta(seconds=seconds)),
                         status=out[i].status or status)
    return out


# --- --details: the client software of each online resource -----------------------------


def describe_software(result: ET.Element | None) -> str | None:
    """"Name version" from a disco#info result (XEP-0232 form, else the client identity's
    name) or from a XEP-0092 version result; None when it names nothing."""
    if result is None:
        return None
    version = result.find(f"{{{VERSION_NS}}}query")
    if version is not None:
        name, ver = version.findtext(f"{{{VERSION_NS}}}name"), version.findtext(f"{{{VERSION_NS}}}version")
        return " ".join(x.strip() for x in (name, ver) if x and x.strip()) or None
    info = result.find(f"{{{DISCO_INFO_NS}}}query")
    if info is None:
        return None
    for form in info.iter(f"{{{DATA_NS}}}x"):
        fields = {f.get("var"): f.findtext(f"{{{DATA_NS}}}value") for f in form.iter(f"{{{DATA_NS}}}field")}
        if fields.get("FORM_TYPE") == SOFTWARE_INFO_FORM and fields.get("software"):
            return " ".join(x.strip() for x in (fields["software"], fields.get("software_version")) if x and x.strip())
    identities = list(info.iter(f"{{{DISCO_INFO_NS}}}identity"))
    named = [i.get("name") for i in identities if i.get("category") == "client" and i.get("name")]
    return named[0] if named else next((i.get("name") for i in identities if i.get("name")), None)


async def client_software(session: SessionAPI, info: PresenceInfo, deadline: float) -> str | None:
    """What client a resource runs: disco#info on its XEP-0115 caps node, else XEP-0092; None if unknown."""
    from ..errors import ServerRefused, TimeoutFailure

    full = f"{info.jid}/{info.resource}" if info.resource else info.jid
    asks: list[ET.Element] = []
    if info.caps_node and info.caps_ver:
        asks.append(ET.Element(f"{{{DISCO_INFO_NS}}}query", {"node": f"{info.caps_node}#{info.caps_ver}"}))
    asks.append(ET.Element(f"{{{VERSION_NS}}}query"))  # no caps, or caps that named nothing
    for payload in asks:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            found = describe_software(await session.query("get", payload, to=full, timeout=remaining,
                                                          what=f"client software of {full}"))
        except (ServerRefused, TimeoutFailure):
            continue
        if found:
            return found
    return None


async def add_client_software(session: SessionAPI, rows: list[PresenceRow], resources: dict[str, dict[str, PresenceInfo]],
                              deadline: float) -> list[PresenceRow]:
    """Fill ``client`` of the online rows, all resources asked at once, none past *deadline*."""
    online = [(i, resources[row.jid][row.resource or ""]) for i, row in enumerate(rows)
              if row.state == "online" and (row.resource or "") in resources.get(row.jid, {})]
    if not online or deadline <= time.monotonic():
        return rows
    tasks = [asyncio.ensure_future(client_software(session, info, deadline)) for _, info in online]
    await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
    out = list(rows)
    for (i, _), task in zip(online, tasks):
        if task.done() and not task.cancelled() and task.exception() is None:
            out[i] = replace(out[i], client=task.result())
        else:
            task.cancel()
    return out
