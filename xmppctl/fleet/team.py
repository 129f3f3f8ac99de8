"""Team rosters: every member lists every other member, in one group, subscription ``both``.

Pure: the team file in, a :class:`TeamPlan` out; nothing here opens a session or prints.
A team file (TOML)::

    group = "Ops"                 # the roster group the team shares
    [[member]]
    account = "alice"             # an account name from the config file
    name = "Alice Liddell"        # how the others list her (default: the JID's local part)

How ``xmppctl team sync TEAM.toml`` wires it (validation first: exit 2, nothing sent):

1. ``team = load_team_file(path, config.accounts.keys())``; resolve each member's account
   and take ``member_jids = {account: bare JID}``; ``check_member_jids(team, member_jids)``.
2. (Steps 2-5 are :func:`xmppctl.fleet.team_sync.sync_team`.)  Log in to every member
   concurrently and keep every session open for the run, fetch each roster and note
   whether its server advertises pre-approval.  A member whose login fails is left out of
   ``rosters``: the plan then leaves its side alone (see ``TeamPlan.unavailable``) and the
   run ends in exit 7; a re-run completes it.
3. With ``--prune``: ``former = former_members(team, member_jids, rosters, configured_jids)``.
4. ``plan = plan_team(team, member_jids, rosters, preapproval, former)``.  ``--dry-run``
   renders ``plan.rows()`` (``ROW_COLUMNS``); ``--exit-code`` exits 10 unless
   ``plan.converged``.  A plan with ``plan.removals()`` gets a backup export of each
   affected roster and the confirmation prompt (once, for the combined plan) first.
5. Apply, per account: its ``changes`` (roster sets) first, so that items exist with name
   and group; then every account's phase-1 sends (pre-approvals), then phase 2 (requests);
   if ``plan.needs_barrier`` wait until every request is pending at its approver's server,
   then phase 3 (approvals).  Finally fetch the rosters again and report per member.

A converged team plans nothing: no roster set, no presence.  The handshake rules and their
protocol grounds are in docs/protocol-notes.md ("Team rosters").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..roster.groups import edit_item, rewrite
from ..jid import bare_jid, parse_jid
from ..roster.items import Change, RosterItem
from ..text import validate_group, validate_name
from ..roster.files.fields import Where, parser_limit, read_error, type_name
from ..roster.files.read import toml_key_line, toml_table_places

TOP_KEYS = ("group", "member")
MEMBER_KEYS = ("account", "name")
MIN_MEMBERS = 2

#: keys of a ``--dry-run`` row, in this order (a documented contract)
ROW_COLUMNS = ("account", "action", "jid", "changes", "handshake")

#: the phases in which presences are sent (see the module docstring, step 5)
PHASE_PREAPPROVE = 1
PHASE_REQUEST = 2
PHASE_APPROVE = 3
#: what a send is called in plan rows: the ``xmppctl sub`` command that would send it
STEP_NAMES = {PHASE_PREAPPROVE: "preapprove", PHASE_REQUEST: "request", PHASE_APPROVE: "approve"}

_SEES = ("to", "both")  # the item's owner receives the contact's presence
_SEEN = ("from", "both")  # the contact receives the owner's presence


# ---- the team file --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TeamMember:
    account: str
    #: how the others list this member; None: the local part of its JID
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Team:
    group: str
    members: tuple[TeamMember, ...]

    @property
    def accounts(self) -> list[str]:
        return [m.account for m in self.members]


def load_team_file(path: str, configured_accounts: Collection[str]) -> Team:
    """Read and validate the team file at *path* whole; every member must be configured."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except (UnicodeDecodeError, OSError) as exc:
        raise read_error(path, exc) from None
    return parse_team_text(text, configured_accounts, path)


_TABLE_HEADER = re.compile(r"^\s*\[")  # the top-level keys end at the first table


def parse_team_text(text: str, configured_accounts: Collection[str], name: str = "<input>") -> Team:
    """Validate a team file given as text; errors are ``FILE:LINE: FIELD: message`` (exit 2)."""
    import tomllib

    try:
        doc = tomllib.loads(text.lstrip("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{name}: invalid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{name}: invalid TOML: {parser_limit(exc)}") from None
    lines = text.splitlines()
    top_end = next((i for i, line in enumerate(lines) if _TABLE_HEADER.match(line)), len(lines))
    for key in doc:
        if key not in TOP_KEYS:
            line = toml_key_line(lines, key, 1, len(lines))
            raise UsageError(f"{name}:{line or '?'}: {key}: unknown key (expected group and [[member]] tables)")
    group = _team_group(doc, name, toml_key_line(lines, "group", 1, top_end))
    raw_members = doc.get("member", [])
    if not isinstance(raw_members, list):
        raise UsageError(f"{name}: member: expected [[member]] tables, got {type_name(raw_members)}")
    members = _team_members(raw_members, lines, name, configured_accounts)
    if len(members) < MIN_MEMBERS:
        raise UsageError(f"{name}: member: a team needs at least {MIN_MEMBERS} members, got {len(members)}")
    return Team(group, tuple(members))


def _team_group(doc: dict[str, Any], name: str, line: int | None) -> str:
    where = f"{name}:{line}: group" if line else f"{name}: group"
    if "group" not in doc:
        raise UsageError(f"{where}: missing (the roster group the team shares)")
    value = doc["group"]
    if not isinstance(value, str):
        raise UsageError(f"{where}: expected a string, got {type_name(value)}")
    return validate_group(value, where)


def _team_members(raw_members: list[Any], lines: list[str], name: str, configured: Collection[str]) -> list[TeamMember]:
    members: list[TeamMember] = []
    seen: dict[str, str] = {}
    for raw, (where, place) in zip(raw_members, toml_table_places(lines, "member", len(raw_members), name)):
        if not isinstance(raw, dict):
            raise UsageError(f"{where(None)}: expected a table, got {type_name(raw)}")
        member = _team_member(raw, where, configured)
        if member.account in seen:
            raise UsageError(f"{where('account')}: duplicate account {member.account!r} (first at {seen[member.account]})")
        seen[member.account] = place
        members.append(member)
    return members


def _team_member(raw: dict[str, Any], where: Where, configured: Collection[str]) -> TeamMember:
    for key in raw:
        if key not in MEMBER_KEYS:
            hint = " (the team's group goes at the top, before the first [[member]])" if key == "group" else ""
            raise UsageError(f"{where(key)}: unknown key {key!r} (expected {', '.join(MEMBER_KEYS)}){hint}")
    account = raw.get("account")
    if account is None or account == "":
        raise UsageError(f"{where('account')}: missing (an account name from the config file)")
    if not isinstance(account, str):
        raise UsageError(f"{where('account')}: expected a string, got {type_name(account)}")
    if account not in configured:
        known = ", ".join(sorted(configured)) or "none configured"
        raise UsageError(f"{where('account')}: no account named {account!r} in the config (accounts: {known})")
    display = raw.get("name")
    if display is not None and not isinstance(display, str):
        raise UsageError(f"{where('name')}: expected a string, got {type_name(display)}")
    return TeamMember(account, validate_name(display, where("name")))


def check_member_jids(team: Team, member_jids: Mapping[str, str]) -> dict[str, str]:
    """Every member's normalised bare JID; UsageError when one is missing or two share a JID."""
    out: dict[str, str] = {}
    owner: dict[str, str] = {}
    for account in team.accounts:
        if account not in member_jids:
            raise UsageError(f"team member {account!r}: no JID for this account")
        jid = bare_jid(member_jids[account])
        if jid in owner:
            raise UsageError(f"team members {owner[jid]!r} and {account!r} are the same JID {jid}")
        owner[jid] = account
        out[account] = jid
    return out


def display_name(member: TeamMember, jid: str) -> str:
    """How the other members list *member*: the file's name, else its JID's local part."""
    return member.name or parse_jid(jid).local or jid


# ---- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Send:
    """One subscription presence: *account* sends ``<presence type=TYPE to=TO/>`` in *phase*."""

    phase: int
    account: str
    to: str
    type: str  # "subscribe" | "subscribed"

    @property
    def step(self) -> str:
        return STEP_NAMES[self.phase]


@dataclass(frozen=True, slots=True)
class Handshake:
    """One direction of a pair: *requester* comes to see *approver*'s presence.

    The requester always sends ``subscribe``.  ``approval`` says what the approver sends:
    None (its server answers by itself: it already approved), ``"preapprove"`` (``subscribed``
    before the request; its server supports pre-approval) or ``"approve"`` (``subscribed``
    once the request is pending at its server).
    """

    requester: str
    approver: str
    requester_jid: str
    approver_jid: str
    approval: str | None

    def sends(self) -> list[Send]:
        out = [Send(PHASE_REQUEST, self.requester, self.approver_jid, "subscribe")]
        if self.approval == "preapprove":
            out.append(Send(PHASE_PREAPPROVE, self.approver, self.requester_jid, "subscribed"))
        elif self.approval == "approve":
            out.append(Send(PHASE_APPROVE, self.approver, self.requester_jid, "subscribed"))
        return sorted(out)


@dataclass
class AccountPlan:
    """What one member account sends: roster sets on its own roster, then presences."""

    account: str
    jid: str
    changes: list[Change] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)


@dataclass
class TeamPlan:
    group: str
    #: one per member whose roster was seen, in team-file order
    accounts: list[AccountPlan]
    handshakes: list[Handshake]
    #: members whose roster was not given (login failed): nothing planned on their side, and
    #: no handshake involving them (the next run plans those)
    unavailable: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """Every member's roster was seen and nothing needs to be sent."""
        return not self.unavailable and not self.handshakes and not any(a.changes for a in self.accounts)

    @property
    def has_work(self) -> bool:
        """Something to send among the members seen: a roster set or a handshake."""
        return bool(self.handshakes) or any(a.changes for a in self.accounts)

    def pending_accounts(self) -> set[str]:
        """Members with something still to do: their own sets or sends, or a side of a handshake."""
        out = {a.account for a in self.accounts if a.changes or a.sends}
        for h in self.handshakes:
            out.update((h.requester, h.approver))
        return out

    @property
    def needs_barrier(self) -> bool:
        """True when some approval must wait until its request is pending (phase 3)."""
        return any(h.approval == "approve" for h in self.handshakes)

    def sends(self, phase: int) -> list[Send]:
        """Every account's presences of *phase*, by account (team order), then JID."""
        return [s for a in self.accounts for s in a.sends if s.phase == phase]

    def removals(self) -> list[tuple[str, Change]]:
        """(account, change) for each item ``--prune`` removes: back these rosters up first."""
        return [(a.account, c) for a in self.accounts for c in a.changes if c.action == "remove"]

    def counts(self) -> dict[str, int]:
        c = {"add": 0, "update": 0, "remove": 0, "preapprove": 0, "request": 0, "approve": 0}
        for a in self.accounts:
            for change in a.changes:
                c[change.action] += 1
            for send in a.sends:
                c[send.step] += 1
        return c

    def rows(self) -> list[dict[str, Any]]:
        """``--dry-run`` rows (``ROW_COLUMNS``): one per account and contact touched.

        ``action`` is the roster set (add|update|remove, or none when only presences are
        sent), ``changes`` its fields as ``{field, old, new}``, ``handshake`` the steps this
        account sends to that contact, in order (preapprove, request, approve).
        """
        out = []
        for a in self.accounts:
            by_jid = {c.jid: c for c in a.changes}
            steps: dict[str, list[str]] = {}
            for send in sorted(a.sends):
                steps.setdefault(send.to, []).append(send.step)
            for jid in sorted(set(by_jid) | set(steps)):
                change = by_jid.get(jid)
                out.append({"account": a.account, "action": change.action if change else "none", "jid": jid,
                            "changes": change.to_dict()["changes"] if change else [],
                            "handshake": steps.get(jid, [])})
        return out


def member_item_changes(roster: Mapping[str, RosterItem], group: str, contacts: Mapping[str, str]) -> list[Change]:
    """The roster sets that list each contact (JID -> name) by that name, in *group*.

    The team group is added to the item's other groups, which are kept, like its subscription;
    the name is the team file's.  Items already right give no change.
    """
    changes = []
    for jid, name in contacts.items():
        have = roster.get(jid)
        if have is None:
            changes.append(Change("add", jid, None, RosterItem(jid, name, groups=(group,))))
            continue
        change = rewrite(have, edit_item(have, name=name, add=(group,)))
        if change is not None:
            changes.append(change)
    return changes


def handshake_for(requester: str, approver: str, jids: Mapping[str, str],
                  rosters: Mapping[str, Mapping[str, RosterItem]], preapproval: Mapping[str, bool]) -> Handshake | None:
    """What makes *requester* see *approver*'s presence, judged from both rosters; None when done.

    - requester's item says to/both and approver's says from/both: done;
    - approver's item says from/both (it approved; the requester's item missed the answer):
      a new request, which the approver's server answers by itself;
    - otherwise a request (again, when one is pending: a lost one would never be answered)
      and the approver's ``subscribed``: first as a pre-approval where its server supports it,
      else once the request is pending.
    """
    mine = rosters[requester].get(jids[approver])
    theirs = rosters[approver].get(jids[requester])
    approved = theirs is not None and theirs.subscription in _SEEN
    if approved and mine is not None and mine.subscription in _SEES:
        return None
    if approved:
        approval = None
    else:
        approval = "preapprove" if preapproval.get(approver, False) else "approve"
    return Handshake(requester, approver, jids[requester], jids[approver], approval)


def prune_changes(roster: Mapping[str, RosterItem], group: str, former: Iterable[str]) -> list[Change]:
    """Former members lose the team group; an item whose only group it was is removed."""
    changes = []
    for jid in former:
        have = roster.get(jid)
        if have is None or group not in have.groups:
            continue
        if set(have.groups) == {group}:
            changes.append(Change("remove", jid, have, None))
        else:
            changes.append(Change("update", jid, have, edit_item(have, remove=(group,))))
    return changes


def plan_team(
    team: Team,
    member_jids: Mapping[str, str],
    rosters: Mapping[str, Iterable[RosterItem]],
    preapproval: Mapping[str, bool],
    prune_former: Iterable[str] | None = None,
) -> TeamPlan:
    """Everything that makes the team converge, per member account.

    *member_jids*: account -> bare JID for every member.  *rosters*: account -> its current
    roster, for the members that could log in (a missing one is ``unavailable``).
    *preapproval*: account -> whether its server advertises pre-approval.  *prune_former*:
    bare JIDs of former members to take out of the team group (``--prune``; see
    :func:`former_members` for what qualifies and what exactly is removed).
    Contacts that are neither members nor listed former members are never touched.
    """
    jids = check_member_jids(team, member_jids)
    former = sorted({bare_jid(j) for j in prune_former or ()})
    for jid in former:
        if jid in jids.values():
            raise UsageError(f"--prune: {jid} is a member of the team, not a former member")
    names = {m.account: display_name(m, jids[m.account]) for m in team.members}
    seen = {a: {item.jid: item for item in rosters[a]} for a in team.accounts if a in rosters}
    plans = {a: AccountPlan(a, jids[a]) for a in team.accounts if a in seen}
    handshakes: list[Handshake] = []
    for account, plan in plans.items():
        contacts = {jids[o]: names[o] for o in team.accounts if o != account}
        plan.changes = member_item_changes(seen[account], team.group, contacts)
        plan.changes += prune_changes(seen[account], team.group, former)
        plan.changes.sort(key=lambda c: c.jid)
        for other in team.accounts:
            if other != account and other in seen:
                shake = handshake_for(account, other, jids, seen, preapproval)
                if shake is not None:
                    handshakes.append(shake)
    for shake in handshakes:
        for send in shake.sends():
            plans[send.account].sends.append(send)
    for plan in plans.values():
        plan.sends.sort()
    unavailable = [a for a in team.accounts if a not in seen]
    return TeamPlan(team.group, list(plans.values()), handshakes, unavailable)


def former_members(team: Team, member_jids: Mapping[str, str], rosters: Mapping[str, Iterable[RosterItem]],
                   configured_jids: Mapping[str, str]) -> list[str]:
    """The former members ``--prune`` acts on, sorted: JIDs of configured accounts that are not
    in the team file yet are in the team group on some member's roster.

    What ``--prune`` then removes, on each current member's roster only: a former member's
    item loses the team group; if that was the item's only group, the item itself is removed,
    and with it the subscriptions both ways (the server sends ``unsubscribe`` and
    ``unsubscribed`` for a removed item, RFC 6121 §2.5.2), so the former member's own items
    for the members drop to subscription ``none`` — its roster is not otherwise edited.  An
    item with other groups keeps them, its name and its subscriptions.  Contacts that are not
    configured accounts are never pruned, even when put in the team group by hand.
    """
    jids = check_member_jids(team, member_jids)
    members = set(jids.values())
    candidates = {bare_jid(j) for j in configured_jids.values()} - members
    found = set()
    for account in team.accounts:
        for item in rosters.get(account, ()):
            if item.jid in candidates and team.group in item.groups:
                found.add(item.jid)
    return sorted(found)
