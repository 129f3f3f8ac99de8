"""Moving an account: copy OLD's contacts to NEW and re-establish the subscriptions.

A client cannot set ``subscription``/``ask`` with a roster set (RFC 6121 §2.1.5: the server
owns them), so subscriptions are re-created the only way the protocol allows, with the
contacts' consent:

- contacts who could see OLD's presence (``from``/``both``): NEW pre-approves them (RFC 6121
  §3.4) where its server advertises pre-approval, so their request is answered at once;
  elsewhere NEW approves their request when it has arrived (this run, or any later run);
- contacts whose presence OLD saw (``to``/``both``, or OLD's own request pending): NEW asks
  them, the request carrying XEP-0283's ``<moved><old-jid>OLD</old-jid></moved>`` so their
  client can tell who is asking (and check OLD's ``urn:xmpp:moved:1`` PEP node).

The plan is pure (:func:`plan_migration`) and computed from both accounts' rosters and pending
requests before anything is sent; :func:`carry_out` sends it from NEW's session.  A re-run
sends only what is still missing: roster items that differ, requests that are not pending,
approvals of requests that arrived, and pre-approvals not recorded as sent (servers do not
show a pre-approval in the roster, so the ones sent are kept in a small state file, see
:func:`state_path`).  Library module: returns data, never prints.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .roster.items import Change, ChangeResult, RosterItem

if TYPE_CHECKING:
    from .xmpp.session_api import SessionAPI
    from .subscriptions import PresenceWatcher

MOVED_NS = "urn:xmpp:moved:1"
PUBSUB_NS = "http://jabber.org/protocol/pubsub"
DATA_FORMS_NS = "jabber:x:data"
#: keys of one report row in JSON/NDJSON/CSV output, in this order (a documented contract)
MIGRATE_COLUMNS = ("jid", "copied", "old_subscription", "new_subscription", "step", "status", "error", "note")
SEES_US = ("from", "both")   # the contact receives our presence
WE_SEE = ("to", "both")      # we receive the contact's presence


def moved_element(tag: str, jid: str) -> ET.Element:
    """XEP-0283: ``<moved xmlns='urn:xmpp:moved:1'><TAG>JID</TAG></moved>`` (old-jid / new-jid)."""
    moved = ET.Element(f"{{{MOVED_NS}}}moved")
    ET.SubElement(moved, f"{{{MOVED_NS}}}{tag}").text = jid
    return moved


@dataclass(frozen=True, slots=True)
class ContactPlan:
    """What one of OLD's contacts needs on NEW."""

    jid: str
    old: RosterItem | None
    new: RosterItem | None
    #: the roster set that copies name and groups (None: NEW's item already has them)
    change: Change | None
    #: send ``subscribed`` now: a pre-approval, or the answer to their pending request
    preapprove: bool = False
    approve: bool = False
    #: send ``subscribe`` (with the moved element) now
    request: bool = False
    #: the contact asked OLD to subscribe and is still waiting: listed, kept on OLD
    pending_on_old: bool = False

    @property
    def wants_from(self) -> bool:
        return self.old is not None and self.old.subscription in SEES_US

    @property
    def wants_to(self) -> bool:
        return self.old is not None and (self.old.subscription in WE_SEE or self.old.ask)

    @property
    def step(self) -> str:
        steps = [name for name, on in (("preapprove", self.preapprove), ("approve", self.approve),
                                       ("request", self.request)) if on]
        return "+".join(steps) or "none"

    @property
    def copied(self) -> str:
        if self.old is None:
            return "none"
        return self.change.action if self.change is not None else "unchanged"


@dataclass
class MigrationPlan:
    old_jid: str
    new_jid: str
    contacts: list[ContactPlan]
    #: NEW's server advertises pre-approval (RFC 6121 §3.4)
    preapproval: bool

    def counts(self) -> dict[str, int]:
        c = {"copy": 0, "preapprove": 0, "approve": 0, "request": 0, "pending_on_old": 0}
        for p in self.contacts:
            c["copy"] += p.change is not None
            c["preapprove"] += p.preapprove
            c["approve"] += p.approve
            c["request"] += p.request
            c["pending_on_old"] += p.pending_on_old
        return c

    @property
    def sends(self) -> int:
        """Stanzas the plan sends (roster sets and presences)."""
        return sum((p.change is not None) + p.preapprove + p.approve + p.request for p in self.contacts)


def merged(old: RosterItem, new: RosterItem | None) -> RosterItem:
    """NEW's item for one of OLD's contacts: NEW's name if it has one, else OLD's; the groups
    of both.  NEW's own extensions are kept; nothing NEW has is removed."""
    if new is None:
        return RosterItem(old.jid, old.name, groups=old.groups)
    return replace(new, name=new.name or old.name, groups=tuple(sorted(set(new.groups) | set(old.groups))))


def copy_change(jid: str, old: RosterItem | None, new: RosterItem | None) -> Change | None:
    """The roster set that gives NEW's item OLD's name and groups (merged), or None."""
    if old is None:
        return None
    want = merged(old, new)
    if new is None:
        return Change("add", jid, None, want)
    if (want.name, want.groups) != (new.name, new.groups):
        return Change("update", jid, new, want)
    return None


def plan_migration(old_roster: Iterable[RosterItem], new_roster: Iterable[RosterItem], *, old_jid: str, new_jid: str,
                   new_pending_in: Iterable[str] = (), old_pending_in: Iterable[str] = (), preapproval: bool = False,
                   preapproved: Iterable[str] = ()) -> MigrationPlan:
    """Pure: what NEW must send so that it ends with OLD's contacts and subscriptions.

    *new_pending_in*: JIDs whose request to NEW is waiting (approved when they should see NEW);
    *old_pending_in*: requests to OLD (listed, kept); *preapproved*: JIDs NEW already
    pre-approved in an earlier run (not sent again).  Sorted by JID; both own JIDs skipped.
    """
    own = {old_jid, new_jid}
    news = {item.jid: item for item in new_roster}
    waiting_new, waiting_old, done_pre = set(new_pending_in), set(old_pending_in), set(preapproved)
    olds = {item.jid: item for item in old_roster if item.jid not in own}
    out = []
    for jid in sorted(set(olds) | (waiting_old - own)):
        old, new = olds.get(jid), news.get(jid)
        plan = ContactPlan(jid, old, new, copy_change(jid, old, new), pending_on_old=jid in waiting_old)
        has_from = new is not None and new.subscription in SEES_US
        has_to = new is not None and new.subscription in WE_SEE
        if plan.wants_from and not has_from:
            if jid in waiting_new:
                plan = replace(plan, approve=True)
            elif preapproval and jid not in done_pre:
                plan = replace(plan, preapprove=True)
        if plan.wants_to and not has_to and not (new is not None and new.ask):
            plan = replace(plan, request=True)
        out.append(plan)
    return MigrationPlan(old_jid, new_jid, out, preapproval)


@dataclass(frozen=True, slots=True)
class MigrationRow:
    """One contact of the report: what was copied and sent, and where its subscription stands."""

    jid: str
    copied: str            # add | update | unchanged | none (nothing on OLD to copy) | failed
    old_subscription: str
    new_subscription: str
    step: str              # preapprove | approve | request | ...+... | none (what was sent, or would be)
    status: str            # done | waiting | failed
    error: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"jid": self.jid, "copied": self.copied, "old_subscription": self.old_subscription,
                "new_subscription": self.new_subscription, "step": self.step, "status": self.status,
                "error": self.error, "note": self.note}


def _subscription(item: RosterItem | None) -> str:
    if item is None:
        return "none"
    return item.subscription + ("+ask" if item.ask else "")


def report(plan: MigrationPlan, new_after: Mapping[str, RosterItem], *, results: Mapping[str, ChangeResult] | None = None,
           errors: Mapping[str, str] | None = None, preapproved: Iterable[str] = ()) -> list[MigrationRow]:
    """The rows for *plan* given NEW's roster afterwards (the plan's own view for a dry run).

    ``done`` when NEW has every direction OLD had; ``failed`` when a roster set or a presence
    was refused; else ``waiting`` (for the contact's answer or request).
    """
    results, errors, approved = results or {}, errors or {}, set(preapproved)
    rows = []
    for p in plan.contacts:
        after = new_after.get(p.jid)
        sub = after.subscription if after is not None else "none"
        ok_from = not p.wants_from or sub in SEES_US
        ok_to = not p.wants_to or sub in WE_SEE
        result = results.get(p.change.jid) if p.change is not None else None
        error = errors.get(p.jid) or (result.error if result is not None and not result.ok else None)
        status = "failed" if error else "done" if ok_from and ok_to else "waiting"
        copied = "failed" if result is not None and not result.ok else p.copied
        notes = []
        if p.pending_on_old:
            notes.append("asked OLD to subscribe (kept there): must ask NEW again")
        if status == "waiting":
            if not ok_to:
                notes.append("waiting for the contact to approve NEW's request")
            if not ok_from:
                notes.append("pre-approved: waiting for their request" if p.preapprove or p.jid in approved
                             else "approved when their request arrives (run again)")
        rows.append(MigrationRow(p.jid, copied, _subscription(p.old), _subscription(after), p.step, status, error,
                                 "; ".join(notes) or None))
    return rows


# ---- the state kept between runs: pre-approvals sent --------------------------------------------


def state_path(old_jid: str, new_jid: str, env: Mapping[str, str] | None = None) -> Path:
    """$XDG_DATA_HOME/xmppctl/migrations/OLD--NEW.json (default ~/.local/share/...)."""
    import re

    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    safe = re.sub(r"[^A-Za-z0-9@._-]", "_", f"{old_jid}--{new_jid}")
    return Path(base) / "xmppctl" / "migrations" / f"{safe}.json"


def load_preapproved(path: Path) -> set[str]:
    """The JIDs an earlier run pre-approved (an unreadable state only costs a repeated pre-approval)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {j for j in data.get("preapproved", []) if isinstance(j, str)}
    except (OSError, ValueError, AttributeError):
        return set()


def save_preapproved(path: Path, old_jid: str, new_jid: str, jids: Iterable[str]) -> None:
    from .fsutil import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"old": old_jid, "new": new_jid, "preapproved": sorted(set(jids))}, indent=1) + "\n")


# ---- network ------------------------------------------------------------------------------------


@dataclass
class MigrationOutcome:
    plan: MigrationPlan
    rows: list[MigrationRow]
    #: stanzas sent from NEW (roster sets and presences) and from OLD (unsubscribes, publish)
    sent: int = 0
    #: JIDs pre-approved so far (this run and earlier ones), to be saved
    preapproved: set[str] = field(default_factory=set)
    #: --announce was refused (the error; the rest of the migration stands)
    announce_error: Exception | None = None


async def carry_out(new: SessionAPI, watcher: PresenceWatcher, plan: MigrationPlan, *, rate: float,
                    preapproved: Iterable[str] = (), window: int = 32) -> MigrationOutcome:
    """Send *plan* from NEW's session: approvals of waiting requests, roster sets (pipelined),
    pre-approvals, then the requests at *rate* per second; then one roster get (in-order
    processing makes it reflect every presence sent) gives the rows.

    Approvals go first because ejabberd hides the item of a contact whose request is pending
    from roster gets: once approved, a fresh roster shows whether its copy is still needed.
    """
    import asyncio

    from .roster.items import apply_changes, fetch_roster

    sent = 0
    approving = [p for p in plan.contacts if p.approve]
    for p in approving:
        new.send_subscription(p.jid, "subscribed")
        sent += 1
    if approving:
        fresh = {item.jid: item for item in await fetch_roster(new)}
        plan.contacts = [replace(p, new=fresh.get(p.jid), change=copy_change(p.jid, p.old, fresh.get(p.jid)))
                         if p.approve else p for p in plan.contacts]
    changes = [p.change for p in plan.contacts if p.change is not None]
    results: list[ChangeResult] = []
    await apply_changes(new, changes, results, window=window)
    by_jid = {r.change.jid: r for r in results}
    done = set(preapproved)
    sent += len(changes)
    for p in plan.contacts:
        if p.preapprove:
            new.send_subscription(p.jid, "subscribed")
            sent += 1
            done.add(p.jid)
    first = True
    for p in plan.contacts:
        if not p.request or (p.jid in by_jid and not by_jid[p.jid].ok):
            continue
        if not first:
            await asyncio.sleep(1 / rate)
        first = False
        new.send_subscription(p.jid, "subscribe", payload=moved_element("old-jid", plan.old_jid))
        sent += 1
    after = {item.jid: item for item in await fetch_roster(new)}
    rows = report(plan, after, results=by_jid, errors=watcher.errors, preapproved=done)
    return MigrationOutcome(plan, rows, sent, done)


def unsubscribe_old_plan(rows: Iterable[MigrationRow], old_roster: Iterable[RosterItem]) -> list[tuple[str, tuple[str, ...]]]:
    """``--unsubscribe-old``: what OLD cancels, for contacts NEW now has the same directions with:
    ``unsubscribe`` where OLD saw them, ``unsubscribed`` where they saw OLD."""
    olds = {item.jid: item for item in old_roster}
    out = []
    for row in rows:
        old = olds.get(row.jid)
        if old is None or row.status != "done":
            continue
        kinds = (("unsubscribe",) if old.subscription in WE_SEE else ()) + (
            ("unsubscribed",) if old.subscription in SEES_US else ())
        if kinds:
            out.append((row.jid, kinds))
    return out


def publish_options_form(access_model: str = "open") -> ET.Element:
    form = ET.Element(f"{{{DATA_FORMS_NS}}}x", {"type": "submit"})
    for var, value in (("FORM_TYPE", f"{PUBSUB_NS}#publish-options"), ("pubsub#access_model", access_model)):
        f = ET.SubElement(form, f"{{{DATA_FORMS_NS}}}field", {"var": var})
        ET.SubElement(f, f"{{{DATA_FORMS_NS}}}value").text = value
    return form


def announce_element(new_jid: str) -> ET.Element:
    """The XEP-0283 statement OLD publishes: PEP node urn:xmpp:moved:1, item ``current``, open access."""
    pubsub = ET.Element(f"{{{PUBSUB_NS}}}pubsub")
    publish = ET.SubElement(pubsub, f"{{{PUBSUB_NS}}}publish", {"node": MOVED_NS})
    item = ET.SubElement(publish, f"{{{PUBSUB_NS}}}item", {"id": "current"})
    item.append(moved_element("new-jid", new_jid))
    options = ET.SubElement(pubsub, f"{{{PUBSUB_NS}}}publish-options")
    options.append(publish_options_form())
    return pubsub


async def announce(old: SessionAPI, new_jid: str) -> None:
    """``--announce``: publish the statement on OLD's own PEP service (ServerRefused if it has none)."""
    await old.query("set", announce_element(new_jid), what="publish of the XEP-0283 moved statement")


# ---- roster diff of a XEP-0227 file: the read-only parts ----------------------------------------


def subscription_rows(current: Iterable[RosterItem], file_items: Iterable[RosterItem],
                      pending_in: Iterable[str]) -> list[dict[str, Any]]:
    """``roster diff`` rows for what a XEP-0227 file says but an import cannot send: contacts
    whose subscription/ask differ from the roster's, and the requests pending in the file."""
    have = {item.jid: item for item in current}
    rows = []
    for item in file_items:
        now = have.get(item.jid)
        old, new = _subscription(now), _subscription(item)
        if old != new:
            rows.append({"action": "subscription", "jid": item.jid,
                         "changes": [{"field": "subscription", "old": old, "new": new}],
                         "note": "not imported (the server and the contact decide): see roster migrate"})
    for jid in pending_in:
        rows.append({"action": "pending", "jid": jid, "changes": [],
                     "note": "a subscription request pending in the file: the contact must ask again"})
    return rows
