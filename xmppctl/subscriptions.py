"""Presence subscriptions (RFC 6121 §3): request, approve, deny, cancel, revoke, pending, pre-approve.

How results are known without sleeping: a server processes one client's stanzas in order
(RFC 6120 §10.1), and Prosody/ejabberd apply a subscription presence to the sender's roster
while handling it.  So after sending the presences we fetch the roster: its answer already
reflects every change, and any error the server bounced for a presence arrived before it.

Inbound pending requests are not part of the roster.  The server redelivers them as
``<presence type="subscribe"/>`` when the session sends initial presence (Prosody always,
ejabberd only for a priority >= 0), so :func:`collect_pending` sends initial presence, uses a
roster get as a barrier (the redelivery happens while the presence is handled, before the get)
and then waits a short quiet period for servers that redeliver asynchronously.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .errors import ConnectionFailure, ServerRefused, UsageError
from .roster.items import RosterItem, fetch_roster, set_item
from .xmpp.ns import CLIENT_NS, NICK_NS, PREAPPROVAL_FEATURE, STANZAS_NS

if TYPE_CHECKING:
    from .blocking import BlockResult
    from .xmpp.session_api import SessionAPI

#: initial-presence priority that keeps stored offline messages stored (RFC 6121 §4.7.2.3, XEP-0160)
SAFE_PRIORITY = -1

#: keys of one per-JID result in JSON/NDJSON/CSV output, in this order (a documented contract)
RESULT_COLUMNS = ("jid", "sent", "status", "subscription", "ask", "error")
#: keys of one pending request in JSON/NDJSON/CSV output, in this order (a documented contract)
PENDING_COLUMNS = ("direction", "jid", "subscription", "nick", "message")

#: what each command sends, in order
SENDS = {
    "request": ("subscribe",),
    "approve": ("subscribed",),
    "approve-and-request": ("subscribed", "subscribe"),
    "deny": ("unsubscribed",),
    "cancel": ("unsubscribe",),
    "revoke": ("unsubscribed",),
    "preapprove": ("subscribed",),
}


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A subscription request still waiting for an answer.

    ``direction`` is ``in`` (they asked to see our presence) or ``out`` (we asked; the roster
    item carries ``ask="subscribe"``).  ``nick``/``message`` are what an inbound requester sent.
    """

    jid: str
    direction: str
    subscription: str = "none"
    nick: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"direction": self.direction, "jid": self.jid, "subscription": self.subscription,
                "nick": self.nick, "message": self.message}


@dataclass(frozen=True, slots=True)
class SubscriptionResult:
    """What was (or would be) sent to one JID and the roster state it left behind.

    ``status``: ``sent``; ``dry-run`` (nothing sent); ``not-pending`` (approve/deny of a JID
    with no pending request: nothing sent, because the same presence would pre-approve or
    revoke); ``nothing-to-do`` (cancel of a JID we neither see nor asked: nothing sent, not a
    failure); ``error`` (the server bounced the presence; ``error`` holds the condition).
    ``subscription``/``ask`` are our roster's state for the JID afterwards (``none``/false
    when it has no item), null when nothing was sent.
    """

    jid: str
    sent: tuple[str, ...]
    status: str
    subscription: str | None = None
    ask: bool | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("error", "not-pending")

    def to_dict(self) -> dict[str, Any]:
        return {"jid": self.jid, "sent": list(self.sent), "status": self.status,
                "subscription": self.subscription, "ask": self.ask, "error": self.error}


@dataclass
class PresenceWatcher:
    """A ``stanza_hook`` for open_session: records subscription requests and presence errors.

    It runs inside slixmpp's parser, so it only records; the command awaits the results.
    """

    requests: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    last_request_at: float = 0.0

    def __call__(self, xml: ET.Element) -> None:
        if xml.tag != f"{{{CLIENT_NS}}}presence":
            return
        kind = xml.get("type")
        sender = (xml.get("from") or "").partition("/")[0].lower()
        if not sender:
            return
        if kind == "subscribe":
            nick = xml.findtext(f"{{{NICK_NS}}}nick") or None
            message = xml.findtext(f"{{{CLIENT_NS}}}status") or None
            self.requests[sender] = (nick, message)
            self.last_request_at = time.monotonic()
        elif kind == "error":
            self.errors[sender] = _error_condition(xml)
        elif kind == "unsubscribe":
            # the requester withdrew (or ended) its subscription: nothing left to answer
            self.requests.pop(sender, None)


def _error_condition(xml: ET.Element) -> str:
    error = xml.find(f"{{{CLIENT_NS}}}error")
    if error is not None:
        for child in error:
            if child.tag.startswith(f"{{{STANZAS_NS}}}") and not child.tag.endswith("}text"):
                return child.tag.rpartition("}")[2]
    return "undefined-condition"


# --- pure logic --------------------------------------------------------------------------


def validate_patterns(patterns: Iterable[str]) -> list[str]:
    """Glob patterns for --match, normalised like JIDs (case-insensitive); empty ones refused."""
    out = []
    for pattern in patterns:
        if not pattern or not pattern.strip():
            raise UsageError("--match: empty pattern")
        out.append(pattern.strip().casefold())
    return out


def matches(jid: str, patterns: Sequence[str]) -> bool:
    """True when the bare *jid* matches any glob (``*``, ``?``, ``[...]``) in *patterns*."""
    return any(fnmatch.fnmatchcase(jid.casefold(), p) for p in patterns)


def select_pending(pending: Iterable[str], *, jids: Sequence[str] = (), all_: bool = False,
                   patterns: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Split a selection into (pending JIDs to act on, named JIDs that have no pending request).

    ``--all`` takes every pending request; ``--match`` those matching any pattern; named JIDs
    are taken when pending.  Order: named JIDs as given, then the rest sorted.
    """
    pending_set = set(pending)
    chosen: dict[str, None] = {}
    missing: list[str] = []
    for jid in jids:
        if jid in pending_set:
            chosen.setdefault(jid, None)
        elif jid not in missing:
            missing.append(jid)
    extra = sorted(j for j in pending_set if all_ or (patterns and matches(j, patterns)))
    for jid in extra:
        chosen.setdefault(jid, None)
    return list(chosen), missing


def pending_requests(inbound: dict[str, tuple[str | None, str | None]], roster: Iterable[RosterItem]) -> list[PendingRequest]:
    """Inbound requests (from the redelivered presences) then outbound ones (roster ``ask``), each sorted by JID."""
    state = {item.jid: item for item in roster}
    out = [PendingRequest(jid, "in", state[jid].subscription if jid in state else "none", nick, message)
           for jid, (nick, message) in sorted(inbound.items())]
    out += [PendingRequest(item.jid, "out", item.subscription) for item in sorted(state.values(), key=lambda i: i.jid) if item.ask]
    return out


def merged_item(jid: str, current: RosterItem | None, name: str | None, groups: Sequence[str] | None = None,
                *, add: Sequence[str] = ()) -> RosterItem | None:
    """The roster item to set for ``request --name/--group/--add-group``, or None when nothing
    would change.

    A roster set replaces the whole item, so the current item is the base: its name, groups
    and the extensions other clients stored on it are kept; --name replaces the name, --group
    (*groups*) replaces the groups as in ``roster add``/``roster set``, --add-group (*add*) adds.
    """
    if name is None and groups is None and not add:
        return None
    base = current or RosterItem(jid)
    new_name = name if name is not None else base.name
    new_groups = tuple(sorted(set(base.groups if groups is None else groups) | set(add)))
    if current is not None and new_name == current.name and new_groups == tuple(sorted(current.groups)):
        return None
    return replace(base, name=new_name or None, groups=new_groups)


def check_not_self(own_bare: str, jids: Iterable[str]) -> None:
    for jid in jids:
        if jid == own_bare:
            raise UsageError(f"{jid} is your own JID: a subscription to yourself is implicit")


# --- network ------------------------------------------------------------------------------


async def collect_pending(session: SessionAPI, watcher: PresenceWatcher, *, priority: int | None = None,
                          settle: float = 0.3) -> tuple[dict[str, tuple[str | None, str | None]], list[RosterItem]]:
    """Send initial presence and gather redelivered inbound requests; also return the roster.

    Stored offline messages must stay stored for the user's real client, so the presence is
    sent the safe way (docs/protocol-notes.md, "Offline messages"): XEP-0013 flexible offline
    retrieval is requested first; where the server confirms it (ejabberd), priority 0 (which
    ejabberd needs to redeliver pending requests); otherwise priority -1 (Prosody redelivers
    at any priority).  An explicit *priority* is used as given (after the same XEP-0013 step).

    Finishes *settle* seconds after the last request (counting from the roster answer), or at
    the session deadline.
    """
    held = await session.keep_offline_messages_stored()
    session.send_initial_presence(priority if priority is not None else (0 if held else SAFE_PRIORITY))
    roster = await fetch_roster(session)
    deadline = time.monotonic() + session.timeout
    quiet_since = time.monotonic()
    closed = session.closed
    while True:
        now = time.monotonic()
        remaining = min(max(quiet_since, watcher.last_request_at) + settle, deadline) - now
        if remaining <= 0:
            break
        # a stream that goes away while we listen would make "no requests" a lie
        await asyncio.wait([closed], timeout=remaining)
        if closed.done():
            raise ConnectionFailure("connection lost while collecting pending subscription requests")
    return dict(watcher.requests), roster


async def send_and_report(session: SessionAPI, watcher: PresenceWatcher, plan: Sequence[tuple[str, tuple[str, ...]]],
                          *, nick: str | None = None, message: str | None = None) -> list[SubscriptionResult]:
    """Send each JID's presences, then read the roster once to report the resulting states."""
    for jid, kinds in plan:
        for kind in kinds:
            session.send_subscription(jid, kind, nick=nick, message=message)
    # In-order processing: this answer comes after every roster change the presences caused.
    roster = {item.jid: item for item in await fetch_roster(session)}
    results = []
    for jid, kinds in plan:
        item = roster.get(jid)
        if jid in watcher.errors:
            results.append(SubscriptionResult(jid, kinds, "error", item.subscription if item else "none",
                                              bool(item and item.ask), watcher.errors[jid]))
        else:
            results.append(SubscriptionResult(jid, kinds, "sent", item.subscription if item else "none", bool(item and item.ask)))
    return results


async def request(session: SessionAPI, watcher: PresenceWatcher, jids: Sequence[str], *, name: str | None = None,
                  groups: Sequence[str] | None = None, add_groups: Sequence[str] = (), nick: str | None = None,
                  message: str | None = None) -> list[SubscriptionResult]:
    """Ask to see each JID's presence; with --name/--group/--add-group first put the contact on the roster."""
    if name is not None or groups is not None or add_groups:
        current = {item.jid: item for item in await fetch_roster(session)}
        for jid in jids:
            item = merged_item(jid, current.get(jid), name, groups, add=add_groups)
            if item is not None:
                await set_item(session, item, what=f"roster set for {jid}")
    return await send_and_report(session, watcher, [(jid, SENDS["request"]) for jid in jids], nick=nick, message=message)


async def cancel(session: SessionAPI, watcher: PresenceWatcher, jids: Sequence[str]) -> list[SubscriptionResult]:
    """Send ``unsubscribe`` to each JID whose presence we see or asked for; the others (subscription
    none/from, no pending request: nothing to cancel) get nothing and status ``nothing-to-do``."""
    roster = {item.jid: item for item in await fetch_roster(session)}

    def idle(jid: str) -> bool:
        item = roster.get(jid)
        return item is None or (item.subscription in ("none", "from") and not item.ask)

    sent = await send_and_report(session, watcher, [(j, SENDS["cancel"]) for j in jids if not idle(j)])
    by_jid = {r.jid: r for r in sent}
    return [by_jid.get(j) or SubscriptionResult(j, (), "nothing-to-do", roster[j].subscription if j in roster else "none",
                                                bool(j in roster and roster[j].ask)) for j in jids]


@dataclass
class AnswerOutcome:
    """What an approve or deny did: one result per selected JID, the blocks, the requests left alone."""

    #: the answered JIDs (sent, dry-run or error), then the named ones with no pending request
    results: list[SubscriptionResult]
    #: deny with *block*: JID -> its block result (only the JIDs denied); None without *block*
    blocks: dict[str, BlockResult] | None
    #: pending requests the selection did not take, sorted: delivered to us, so worth telling
    others: list[str]


async def answer_pending(session: SessionAPI, watcher: PresenceWatcher, kind: str, *, jids: Sequence[str] = (),
                         all_: bool = False, patterns: Sequence[str] = (), priority: int | None = None,
                         settle: float = 0.3, dry_run: bool = False, block: bool = False) -> AnswerOutcome:
    """approve / deny (*kind*, a key of :data:`SENDS`): collect the pending requests, select
    (named *jids*, *all_* or glob *patterns*), answer only those that are pending.

    Named JIDs without a pending request get status ``not-pending`` and nothing is sent to
    them (the same presence would pre-approve or revoke).  With *block* (deny) the server must
    support XEP-0191 (else ServerRefused before our initial presence: only the disco query was
    sent), and every denied JID is then blocked (:func:`block_senders`).
    """
    if block:
        from .blocking import require_blocking

        await require_blocking(session)
    inbound, _roster = await collect_pending(session, watcher, priority=priority, settle=settle)
    chosen, missing = select_pending(inbound, jids=jids, all_=all_, patterns=patterns)
    if dry_run:
        answered = [SubscriptionResult(j, SENDS[kind], "dry-run") for j in chosen]
    else:
        answered = await send_and_report(session, watcher, [(j, SENDS[kind]) for j in chosen])
    blocks = await block_senders(session, answered, dry_run=dry_run) if block else None
    skipped = [SubscriptionResult(j, (), "not-pending") for j in missing]
    return AnswerOutcome(answered + skipped, blocks, sorted(set(inbound) - set(chosen)))


async def block_senders(session: SessionAPI, answered: Sequence[SubscriptionResult], *,
                        dry_run: bool = False) -> dict[str, BlockResult]:
    """deny --block: block every JID whose request was just denied (after the deny: a blocked
    JID could not be sent the ``unsubscribed``); one block IQ each, see xmppctl.blocking."""
    from .blocking import change

    denied = [r.jid for r in answered if r.status in ("sent", "dry-run")]
    return {b.jid: b for b in await change(session, "block", denied, dry_run=dry_run)} if denied else {}


def require_preapproval(session: SessionAPI) -> None:
    if not session.has_feature(*PREAPPROVAL_FEATURE):
        raise ServerRefused("server does not support pre-approval (no urn:xmpp:features:pre-approval stream feature)",
                            condition="feature-not-implemented")
