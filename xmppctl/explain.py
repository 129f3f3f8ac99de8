"""``presence explain``: why a contact shows as it does from this account.

The facts are gathered in one session (:func:`gather`): the roster item, a pending request in
either direction, the block list (where the server offers XEP-0191), a probe of the contact
and its last activity (XEP-0012).  With the contact's own account (``--peer-account``) a
second session reads the other side (:func:`gather_side`).  :func:`verdict` turns the facts
into one line; it is pure, so every branch has a unit test.

Pending inbound requests are collected the way ``sub pending`` does it
(``subscriptions.collect_pending``), which keeps the account's stored offline messages stored;
its initial presence is also the one that makes the server probe the contact, so the probe
(``presence.probe``) reads the answers it caused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .xmpp.session_api import SessionAPI

#: subscription states under which the server sends us the contact's presence
SEES_PRESENCE = ("to", "both")
#: subscription states under which the contact sees ours (it approved our request)
APPROVED = ("from", "both")
#: verdict code -> who must act for presence to flow: "you", "contact" or None (nothing to do / unknown)
MUST_ACT: dict[str, str | None] = {
    "blocked": "you",
    "blocked-by-contact": "contact",
    "not-in-roster": "you",
    "not-subscribed": "you",
    "request-pending": "contact",
    "request-lost": "you",
    "out-of-sync": "you",
    "refused": "you",
    "online": None,
    "offline": None,
    "probe-error": None,
    "no-answer": None,
}


@dataclass(frozen=True, slots=True)
class SideFacts:
    """What one account's server says about the other party (``contact``)."""

    account: str  #: bare JID of the account these facts were read as
    contact: str  #: the other party's bare JID
    in_roster: bool = False
    subscription: str = "none"  #: this side's roster state for the contact (none when absent)
    ask: bool = False  #: this side's own request to the contact is pending
    pending_in: bool = False  #: the contact's request to this side waits for an answer
    blocking: bool | None = None  #: does the server offer XEP-0191 (None: not asked)
    blocked_by: tuple[str, ...] = ()  #: this side's block list entries that cover the contact

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "in_roster": self.in_roster, "subscription": self.subscription,
                "ask": self.ask, "approved": self.subscription in APPROVED, "pending_in": self.pending_in,
                "blocked": bool(self.blocked_by) if self.blocking else None, "blocked_by": list(self.blocked_by)}


@dataclass(frozen=True, slots=True)
class ResourceFacts:
    """One online resource of the contact, as the probe saw it."""

    resource: str | None
    show: str = "available"
    status: str | None = None
    priority: int | None = None
    since: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "show": self.show, "status": self.status, "priority": self.priority,
                "since": self.since}


@dataclass(frozen=True, slots=True)
class ProbeFacts:
    """The probe's outcome for the contact (``presence probe`` states)."""

    state: str  #: online|offline|no-subscription|not-in-roster|error|timeout
    resources: tuple[ResourceFacts, ...] = ()
    status: str | None = None
    last_seen: str | None = None
    idle: int | None = None
    error: str | None = None
    timeout: float = 0.0  #: the deadline the probe had (for the no-answer verdict)


@dataclass(frozen=True, slots=True)
class ExplainFacts:
    own: SideFacts
    #: None when the contact was not probed (blocked by us: nothing can come back)
    probe: ProbeFacts | None = None
    #: the contact's side, read as its own account (--peer-account), or None
    peer: SideFacts | None = None
    #: the config name of the contact's account (for the commands the verdict suggests)
    peer_account: str | None = None


# --- the verdict (pure) ----------------------------------------------------------------------


def _ago(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _online_text(resources: Sequence[ResourceFacts]) -> str:
    n = len(resources)
    shown = ", ".join(f"{r.resource or '(no resource)'}: {r.show}" for r in resources)
    return f"online: {n} resource{'' if n == 1 else 's'} ({shown})"


def _peer_cmd(f: ExplainFacts, command: str) -> str:
    return f"`xmppctl -a {f.peer_account} {command}`" if f.peer_account else f"`xmppctl {command}`"


def _blocked(f: ExplainFacts) -> tuple[str, str] | None:
    own, peer, bob = f.own, f.peer, f.own.contact
    if own.blocked_by:
        entry = own.blocked_by[0]
        what = bob if entry == bob else f"{bob} (block list entry {entry})"
        return "blocked", f"no presence: {what} is blocked by you; run `xmppctl block remove {entry}`"
    if peer is not None and peer.blocked_by:
        entry = peer.blocked_by[0]
        return "blocked-by-contact", (f"no presence: {bob} blocks you ({entry}); {bob} must unblock you: "
                                      f"{_peer_cmd(f, f'block remove {entry}')}")
    return None


def _subscribed(f: ExplainFacts) -> tuple[str, str]:
    """The verdict when our roster says we are subscribed (to/both): the probe tells the rest."""
    own, peer, probe, bob = f.own, f.peer, f.probe, f.own.contact
    if probe is not None and probe.state == "online":
        return "online", _online_text(probe.resources)
    if peer is not None and peer.subscription not in APPROVED:
        return "out-of-sync", (f"no presence: your roster says subscription={own.subscription} but {bob}'s says "
                               f"subscription={peer.subscription} (not approved); ask again: run `xmppctl sub request {bob}`")
    if probe is None:
        return "no-answer", f"no presence: {bob} was not probed"
    if probe.state == "offline":
        said = f' ("{probe.status}")' if probe.status else ""
        if probe.last_seen and probe.idle:
            return "offline", f"offline{said}; last seen {probe.last_seen} ({_ago(probe.idle)} ago)"
        if probe.last_seen:  # Prosody answers 0 for an account that was never online
            return "offline", f"offline{said}; last seen unknown (the server reports 0 s: just now, or never online)"
        return "offline", f"offline{said}; last seen unknown (the server gave no last activity)"
    if probe.state == "no-subscription":  # the contact's server answered the probe with unsubscribed
        return "refused", (f"no presence: {bob}'s server says you are not subscribed (it answered the probe with "
                           f"unsubscribed); run `xmppctl sub request {bob}`")
    if probe.state == "error":
        return "probe-error", f"no presence: the probe of {bob} returned an error ({probe.error or 'unknown'})"
    return "no-answer", (f"no answer from {bob} within {probe.timeout:g} s: its server may be unreachable, "
                         f"or {bob} blocks you")


def _not_subscribed(f: ExplainFacts) -> tuple[str, str]:
    """The verdict when our roster says we do not see the contact's presence (none/from)."""
    own, peer, bob = f.own, f.peer, f.own.contact
    if own.ask:
        if peer is None:
            return "request-pending", f"no presence: your subscription request is pending: {bob} must approve it"
        if peer.pending_in:
            return "request-pending", (f"no presence: your subscription request is pending: {bob} must approve it: "
                                       f"{_peer_cmd(f, f'sub approve {own.account}')}")
        return "request-lost", (f"no presence: your subscription request is pending but {bob} has no record of it; "
                                f"send it again: run `xmppctl sub request {bob}`")
    hint = (f" ({bob} asked to see yours too: `xmppctl sub approve --and-request {bob}` does both)"
            if own.pending_in else "")
    if not own.in_roster:
        return "not-in-roster", f"no presence: {bob} is not in your roster; run `xmppctl sub request {bob}`{hint}"
    return "not-subscribed", (f"no presence: you are not subscribed to {bob} (subscription={own.subscription}); "
                              f"run `xmppctl sub request {bob}`{hint}")


def verdict(facts: ExplainFacts) -> tuple[str, str]:
    """(code, one line) saying why the contact shows as it does; the codes are the keys of MUST_ACT."""
    blocked = _blocked(facts)
    if blocked is not None:
        return blocked
    if facts.own.subscription in SEES_PRESENCE:
        return _subscribed(facts)
    return _not_subscribed(facts)


# --- the report --------------------------------------------------------------------------------


def report(facts: ExplainFacts) -> dict[str, Any]:
    """The JSON report (keys documented in the command's help)."""
    code, text = verdict(facts)
    probe = facts.probe
    out: dict[str, Any] = {"jid": facts.own.contact, **facts.own.to_dict(),
                           "blocking_supported": facts.own.blocking,
                           "state": probe.state if probe else None,
                           "resources": [r.to_dict() for r in probe.resources] if probe else [],
                           "status": probe.status if probe else None,
                           "last_seen": probe.last_seen if probe else None,
                           "idle": probe.idle if probe else None,
                           "error": probe.error if probe else None}
    out["peer"] = None
    if facts.peer is not None:
        out["peer"] = {"name": facts.peer_account, **facts.peer.to_dict()}
    out.update(code=code, must_act=MUST_ACT.get(code), verdict=text)
    return out


def _cell(value: Any, unknown: str = "unknown") -> Any:
    if value is None:
        return unknown
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def flat_report(report_: dict[str, Any]) -> dict[str, Any]:
    """The report as field/value lines (table, CSV): resources and the peer's side flattened."""
    out: dict[str, Any] = {}
    for key, value in report_.items():
        if key == "resources":
            out[key] = [f"{r['resource'] or '(no resource)'}: {r['show']}"
                        + (f" (priority {r['priority']})" if r["priority"] is not None else "")
                        + (f' "{r["status"]}"' if r["status"] else "") for r in value]
        elif key == "peer":
            for pkey, pvalue in (value or {}).items():
                out[f"peer_{pkey}"] = pvalue
        else:
            out[key] = value
    return out


def table_report(report_: dict[str, Any]) -> dict[str, Any]:
    """flat_report with yes/no for booleans and words for the nulls that mean something."""
    flat = flat_report(report_)
    out = {}
    for key, value in flat.items():
        if key in ("blocked", "peer_blocked", "blocking_supported"):
            out[key] = _cell(value, "unknown (the server offers no XEP-0191)")
        elif isinstance(value, bool):
            out[key] = _cell(value)
        elif key == "state" and value is None:
            out[key] = "not probed"
        else:
            out[key] = value
    return out


# --- gathering (network) -----------------------------------------------------------------------


class StanzaHooks:
    """The session's stanza_hook: feeds both the pending-request watcher and the probe's inbox."""

    def __init__(self) -> None:
        from .presence import PresenceInbox
        from .subscriptions import PresenceWatcher

        self.watcher = PresenceWatcher()
        self.inbox = PresenceInbox()

    def __call__(self, xml: Any) -> None:
        self.watcher(xml)
        self.inbox.hook(xml)


async def gather_side(session: SessionAPI, hooks: StanzaHooks, contact: str, *, settle: float = 0.3) -> SideFacts:
    """This side's block list, roster item and pending inbound requests, about *contact*.

    Sends an initial presence (the way ``sub pending`` does, see subscriptions.collect_pending),
    which also starts the server's probe of our contacts.
    """
    from .blocking import covering_entries, fetch_blocklist, supports_blocking
    from .subscriptions import collect_pending

    blocking = await supports_blocking(session)
    entries = await fetch_blocklist(session) if blocking else []
    inbound, roster = await collect_pending(session, hooks.watcher, settle=settle)
    item = next((i for i in roster if i.jid == contact), None)
    return SideFacts(account=session.bare_jid, contact=contact, in_roster=item is not None,
                     subscription=item.subscription if item else "none", ask=bool(item and item.ask),
                     pending_in=contact in inbound, blocking=blocking,
                     blocked_by=tuple(covering_entries(contact, entries)))


def probe_facts(rows: Sequence[Any], timeout: float) -> ProbeFacts:
    """ProbeFacts from ``presence.probe`` rows of one contact."""
    online = [r for r in rows if r.state == "online"]
    if online:
        return ProbeFacts("online", tuple(ResourceFacts(r.resource, r.show or "available", r.status, r.priority, r.since)
                                          for r in online), timeout=timeout)
    row = rows[0]
    return ProbeFacts(row.state, status=row.status, last_seen=row.last_seen, idle=row.idle, error=row.error,
                      timeout=timeout)


async def gather(session: SessionAPI, hooks: StanzaHooks, contact: str) -> tuple[SideFacts, ProbeFacts | None]:
    """Our side's facts, then (unless we block the contact) a probe with last activity."""
    from .presence import READ_ONLY_PRIORITY, probe

    own = await gather_side(session, hooks, contact)
    if own.blocked_by:  # nothing of the contact's can reach us: a probe would only wait for the deadline
        return own, None
    # The initial presence was sent by gather_side; probe sends an update at -1 (no new probe)
    # and reads the answers the first one caused from the inbox.
    snapshot = await probe(session, hooks.inbox, jids=[contact], priority=READ_ONLY_PRIORITY, last=True)
    return own, probe_facts(snapshot.rows, session.timeout)
