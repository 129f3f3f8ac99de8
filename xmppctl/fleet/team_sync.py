"""Team sync on live sessions: make every member list every other one (the plan: xmppctl/fleet/team.py).

:func:`sync_team` holds every member's session open at once in one event loop (the
handshakes need both sides online), applies the plan in phases (roster sets, pre-approvals,
requests, approvals), then reads the rosters again until the team has converged or the
deadline passed.  It returns a :class:`TeamRun` and never prints: the caller gets the lines
worth telling (backups written) through *note* and asks the user through *confirm*.
A member whose login or roster set fails is recorded on its :class:`Member`; the others go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import XmppctlError, aborted
from ..roster.items import apply_changes, fetch_roster, raise_for_results
from .team import PHASE_APPROVE, PHASE_PREAPPROVE, PHASE_REQUEST, Team, TeamPlan, former_members, plan_team

if TYPE_CHECKING:
    from .run import AccountOutcome
    from ..xmpp.session_api import SessionAPI

#: ``open_session(account_name)``: an async context manager yielding that member's Session
OpenSession = Callable[[str], AbstractAsyncContextManager[Any]]
#: asked once before --prune removes contacts; False aborts (exit 1, nothing changed)
Confirm = Callable[[str], Awaitable[bool]]
#: an informational line (e.g. "alice: backup of the current roster written to PATH")
Note = Callable[[str], None]

#: rounds of plan -> apply -> wait; a second round repairs what a server answered late or lost
ROUNDS = 2
#: first and longest pause between two roster reads while waiting for the servers
_FIRST_DELAY, _MAX_DELAY = 0.02, 0.5


@dataclass
class Member:
    """One member account during a run: its session (once logged in), what it sent, its error."""

    name: str
    session: Any = None
    error: BaseException | None = None
    roster_sets: int = 0
    presences: int = 0
    ready: asyncio.Future | None = None
    task: asyncio.Task | None = None

    @property
    def live(self) -> bool:
        return self.session is not None and self.error is None


@dataclass
class TeamRun:
    """What a run saw and did: every member, the first plan (what --dry-run shows) and the last."""

    members: dict[str, Member]
    first: TeamPlan | None = None
    last: TeamPlan | None = None
    #: backup files written before --prune removed contacts
    backups: list[str] = field(default_factory=list)

    def outcomes(self, *, dry_run: bool, exit_code: bool) -> list[AccountOutcome]:
        """Each member as an account outcome, for the one exit rule (fleet.run.fleet_exit_code):
        failed (its error), not converged before the deadline (partial: a re-run completes it),
        or done; with *exit_code*, drift when the team was not converged at the start."""
        from ..errors import PartialFailure
        from .run import AccountOutcome

        pending = self.last.pending_accounts() if self.last is not None and not dry_run else set()
        drift = exit_code and self.first is not None and not self.first.converged
        return [AccountOutcome(name, error=m.error or (PartialFailure(f"{name}: not converged before the deadline; "
                                                                       "run again") if name in pending else None),
                               drift=drift)
                for name, m in self.members.items()]

    def status(self, name: str, outcome: AccountOutcome) -> str:
        """A member's status in the report: failed, not-converged or converged."""
        return "failed" if self.members[name].error else "not-converged" if outcome.error else "converged"


@dataclass
class _Context:
    """What every step of one run needs: the team, its JIDs, --prune's candidates, the deadlines."""

    team: Team
    jids: Mapping[str, str]
    members: dict[str, Member]
    timeouts: Mapping[str, float]
    configured: Mapping[str, str] | None

    def live(self) -> list[Member]:
        return [m for m in self.members.values() if m.live]


async def sync_team(
    team: Team,
    jids: Mapping[str, str],
    open_session: OpenSession,
    *,
    timeouts: Mapping[str, float],
    parallel: int = 16,
    dry_run: bool = False,
    configured: Mapping[str, str] | None = None,
    confirm: Confirm | None = None,
    backup_dir: str | Path = ".",
    note: Note | None = None,
) -> TeamRun:
    """Bring *team* to convergence: every member lists every other, in the team group, subscription both.

    *jids*: account -> bare JID of every member (``team.check_member_jids``).  *open_session*
    is called once per member; at most *parallel* logins run at once, but every session stays
    open until the run ends.  *timeouts*: account -> seconds, the deadline for that member's
    approvals and (the longest) for the final wait.  *configured*: account -> JID of every
    configured account, to prune former members (None: no pruning).  Before a prune each
    affected roster is exported to *backup_dir* (reported through *note*) and *confirm* (if
    given) is asked once.  With *dry_run* only the first plan is made.
    """
    missing = [name for name in team.accounts if name not in timeouts]
    if missing:
        raise ValueError(f"sync_team: no timeout for {', '.join(missing)}")
    loop = asyncio.get_running_loop()
    members = {name: Member(name) for name in team.accounts}
    ctx = _Context(team, jids, members, timeouts, configured)
    slots, release = asyncio.Semaphore(parallel), asyncio.Event()
    for m in members.values():
        m.ready = loop.create_future()
        m.task = asyncio.ensure_future(_hold(m, open_session, slots, release))
    result = TeamRun(members)
    confirmed: set[tuple[str, str]] = set()
    try:
        await asyncio.gather(*(m.ready for m in members.values()))
        for _round in range(ROUNDS):
            plan = await _plan(ctx)
            result.first = result.first or plan
            result.last = plan
            if dry_run or not plan.has_work:
                break
            # every round: a removal first planned in a later one (a contact another client
            # added meanwhile) is backed up and asked for like the first round's
            if any((a, c.jid) not in confirmed for a, c in plan.removals()):
                result.backups += await _confirm_and_back_up(ctx, plan, confirm, backup_dir, note, confirmed)
            await _apply(ctx, plan)
            result.last = await _settle(ctx)
            if not result.last.has_work:
                break
        return result
    finally:
        release.set()
        await asyncio.gather(*(m.task for m in members.values() if m.task is not None), return_exceptions=True)


async def _hold(member: Member, open_session: OpenSession, slots: asyncio.Semaphore, release: asyncio.Event) -> None:
    """Log *member* in (at most *slots* logins at once) and keep its session until *release*."""
    assert member.ready is not None
    await slots.acquire()
    held = True
    try:
        async with open_session(member.name) as s:
            slots.release()
            held = False
            member.session = s
            member.ready.set_result(s)
            await release.wait()
    except Exception as exc:  # noqa: BLE001 - this member's failure; the others go on
        member.error = member.error or exc
        if not member.ready.done():
            member.ready.set_result(None)
    finally:
        if held:
            slots.release()


async def _plan(ctx: _Context) -> TeamPlan:
    """Read every live member's roster and plan from them (a failed read fails that member)."""
    from ..subscriptions import PREAPPROVAL_FEATURE

    rosters: dict[str, Any] = {}

    async def fetch(m: Member) -> None:
        try:
            rosters[m.name] = await fetch_roster(m.session)
        except Exception as exc:  # noqa: BLE001
            m.error = exc

    await asyncio.gather(*(fetch(m) for m in ctx.live()))
    pre = {n: ctx.members[n].session.has_feature(*PREAPPROVAL_FEATURE) for n in rosters}
    former = former_members(ctx.team, ctx.jids, rosters, ctx.configured) if ctx.configured is not None else None
    return plan_team(ctx.team, ctx.jids, rosters, pre, former)


async def _confirm_and_back_up(ctx: _Context, plan: TeamPlan, confirm: Confirm | None, backup_dir: str | Path,
                               note: Note | None, confirmed: set[tuple[str, str]]) -> list[str]:
    """Ask once for the removals --prune plans that were not confirmed before, then export every
    roster they take an item from (after the confirmation, before the first removal, as every
    path that removes does); *confirmed* gets them (a later round asks only about new ones)."""
    from ..roster.workflows import backup_to

    removals = [(a, c) for a, c in plan.removals() if (a, c.jid) not in confirmed]
    if confirm is not None and removals:
        listing = ", ".join(f"{a}: {c.jid}" for a, c in removals)
        if not await confirm(f"--prune removes {len(removals)} contact(s) ({listing})?"):
            if confirmed:  # an earlier round's confirmed removals were applied
                raise XmppctlError("aborted: the contacts confirmed before were removed, nothing else was changed")
            raise aborted()
    paths = []
    for account in dict.fromkeys(a for a, _ in removals):
        session: SessionAPI = ctx.members[account].session
        path = backup_to(backup_dir, "toml", ctx.jids[account])(await fetch_roster(session))
        if note is not None:
            note(f"{account}: backup of the current roster written to {path}")
        paths.append(str(path))
    confirmed.update((a, c.jid) for a, c in removals)
    return paths


async def _apply(ctx: _Context, plan: TeamPlan) -> None:
    """Roster sets, then pre-approvals, then requests, then approvals (retried until accepted)."""
    members = ctx.members

    async def changes(account: str, todo: list) -> None:
        m = members[account]
        results: list = []
        try:  # the one way roster sets are sent: pipelined, a result per item (roster/items.py)
            await apply_changes(m.session, todo, results)
            raise_for_results(results, "roster")
        except Exception as exc:  # noqa: BLE001 - this member fails; the others go on
            m.error = exc
        finally:
            m.roster_sets += len(results)

    await asyncio.gather(*(changes(a.account, a.changes) for a in plan.accounts if a.changes))
    for phase in (PHASE_PREAPPROVE, PHASE_REQUEST):
        for send in plan.sends(phase):
            _send(members[send.account], send.to, send.type)
    # a round trip on every requester: its server has handled the requests sent before it
    await asyncio.gather(*(_round_trip(m) for m in ctx.live()))
    approvals = plan.sends(PHASE_APPROVE)
    if approvals:
        await asyncio.gather(*(_approve(members[s.account], s.to, ctx.timeouts[s.account]) for s in approvals))


def _send(m: Member, to: str, kind: str) -> None:
    if not m.live:
        return
    m.presences += 1
    m.session.send_subscription(to, kind)


async def _round_trip(m: Member) -> None:
    try:
        await fetch_roster(m.session)
    except Exception as exc:  # noqa: BLE001
        m.error = exc


async def _approve(m: Member, requester: str, timeout: float) -> None:
    """Send ``subscribed`` until the approver's item says from/both: without pre-approval the
    server accepts it only once the request is pending there (docs/protocol-notes.md)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = _FIRST_DELAY
    while m.error is None:
        _send(m, requester, "subscribed")
        try:
            item = next((i for i in await fetch_roster(m.session) if i.jid == requester), None)
        except Exception as exc:  # noqa: BLE001
            m.error = exc
            return
        if (item is not None and item.subscription in ("from", "both")) or loop.time() > deadline:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_DELAY)


async def _settle(ctx: _Context) -> TeamPlan:
    """Read the rosters again until the team converged (answers travel between servers) or the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(ctx.timeouts[name] for name in ctx.members)
    delay = _FIRST_DELAY
    while True:
        plan = await _plan(ctx)
        if not plan.has_work or loop.time() > deadline:
            return plan
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_DELAY)
