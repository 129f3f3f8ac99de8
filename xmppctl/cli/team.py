"""``xmppctl team sync TEAM.toml``: every member lists every other, in one group, subscription both.

The plan is pure (xmppctl/team.py); this module holds every member's session open at once in
one event loop, applies the plan in phases (roster sets, pre-approvals, requests, approvals),
then reads the rosters again until the team has converged or the deadline passed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

if TYPE_CHECKING:
    import asyncio

import typer

from .common import DryRunOpt, OutputOpt, render, run, session, state

if TYPE_CHECKING:
    from ..team import Team, TeamPlan
    from .common import State

app = typer.Typer(help="Team rosters across your own accounts (see `team sync`).", no_args_is_help=True)

#: keys of a result row (one per member), in this order
REPORT_COLUMNS = ("account", "jid", "status", "roster_sets", "presences", "error", "message")
#: rounds of plan -> apply -> wait; a second round repairs what a server answered late or lost
ROUNDS = 2


@dataclass
class Member:
    """One member account during a run: its session (once logged in), what it sent, its error."""

    name: str
    sub: State
    session: Any = None
    error: BaseException | None = None
    roster_sets: int = 0
    presences: int = 0
    ready: asyncio.Future | None = None
    task: asyncio.Task | None = None


@dataclass
class TeamRun:
    members: dict[str, Member]
    first: TeamPlan | None = None
    last: TeamPlan | None = None
    backups: list[str] = field(default_factory=list)


@app.command("sync")
def sync(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="TEAM.toml", help="The team file.", show_default=False)],
    dry_run: DryRunOpt = False,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 10 when the team was not converged (with --dry-run: nothing sent; otherwise it converged in this run).")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Take former members (configured accounts in the team group but not in the file) out of the team group on every member's roster; an item whose only group it was is removed, after a backup export.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --prune removes contacts (required when standard input is not a terminal).")] = False,
    output: OutputOpt = None,
) -> None:
    """Make every member list every other member: that name, in the team group, subscription both.

    The team file (TOML): `group = "Ops"` and one `[[member]]` table per account, with
    `account` (a name from the config file) and optional `name` (how the others list it;
    default: the local part of its JID).  The file is validated whole before anything is sent
    (FILE:LINE: FIELD: message, exit 2).  Every member logs in at once, in one process, with its
    own password source; then roster sets are sent (the team group is added to an item's other
    groups, which are kept), then subscription requests and approvals (pre-approval where the
    server advertises it), and the rosters are read again.  Contacts outside the team are never
    touched.  A converged team sends no roster set and no presence.

    --prune: a configured account that is not in the file but is in the team group on a
    member's roster loses that group there; if it was the item's only group the item is removed
    (and with it both subscriptions, RFC 6121 §2.5.2); the former member's own roster is not
    edited.  Each roster that loses an item is first exported to a timestamped backup file next
    to TEAM.toml (path on stderr), and the combined plan is confirmed once.

    Prints one row per member: account, jid, status (converged|failed|not-converged),
    roster_sets and presences (how many were sent), error and message (null unless failed).
    With --dry-run: one row per member and contact touched: account, action
    (add|update|remove|none), jid, changes (list of {field, old, new}), handshake (steps this
    account would send: preapprove, request, approve).  Exit 7 when some members failed (the
    others converged; a re-run completes the team), the common code when all failed alike.
    """
    from ..errors import UsageError
    from ..team import check_member_jids, load_team_file

    st = state(ctx)
    fmt = st.output_format(output)
    if st.patterns or st.all_accounts or st.jid:
        raise UsageError("team sync: the team file names its accounts; do not pass -a, --all-accounts or --jid")
    if st.password_stdin:
        raise UsageError("team sync: --password-stdin reads one password; use each account's password source")
    if prune and not dry_run and not yes and not sys.stdin.isatty():
        raise UsageError("--prune may remove contacts: pass --yes to confirm (standard input is not a terminal)")
    config = st.config()
    team = load_team_file(file, config.accounts.keys())
    members = {name: Member(name, st.for_account(name)) for name in team.accounts}
    jids = check_member_jids(team, {name: m.sub.resolve_account().jid for name, m in members.items()})
    configured = {name: table["jid"] for name, table in config.accounts.items() if isinstance(table.get("jid"), str)}
    from pathlib import Path

    outcome = run(lambda _stop: _sync(st, team, members, jids, configured if prune else None,
                                      dry_run=dry_run, yes=yes, backup_dir=Path(file).parent))
    raise typer.Exit(_finish(outcome, jids, fmt, dry_run=dry_run, exit_code=exit_code))


# ---- the run ---------------------------------------------------------------------------------


async def _hold(member: Member, slots: asyncio.Semaphore, release: asyncio.Event) -> None:
    """Log *member* in (at most --parallel logins at once) and keep its session until *release*."""
    assert member.ready is not None
    await slots.acquire()
    held = True
    try:
        async with session(member.sub, subscriptions_expected=True) as s:
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


async def _sync(st: State, team: Team, members: dict[str, Member], jids: dict[str, str],
                configured: dict[str, str] | None, *, dry_run: bool, yes: bool, backup_dir: Any) -> TeamRun:
    import asyncio
    loop = asyncio.get_running_loop()
    slots, release = asyncio.Semaphore(st.parallel), asyncio.Event()
    for m in members.values():
        m.ready = loop.create_future()
        m.task = asyncio.ensure_future(_hold(m, slots, release))
    result = TeamRun(members)
    try:
        await asyncio.gather(*(m.ready for m in members.values()))
        for round_ in range(ROUNDS):
            plan = await _plan(team, members, jids, configured)
            result.first = result.first or plan
            result.last = plan
            if dry_run or not _has_work(plan):
                break
            if round_ == 0 and plan.removals():
                result.backups = await _backup_and_confirm(plan, members, yes, backup_dir)
            await _apply(plan, members)
            result.last = await _settle(team, members, jids, configured)
            if not _has_work(result.last):
                break
        return result
    finally:
        release.set()
        tasks = [m.task for m in members.values() if m.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)


def _live(members: dict[str, Member]) -> dict[str, Member]:
    return {n: m for n, m in members.items() if m.session is not None and m.error is None}


async def _plan(team: Team, members: dict[str, Member], jids: dict[str, str], configured: dict[str, str] | None) -> TeamPlan:
    import asyncio
    from ..subscriptions import PREAPPROVAL_FEATURE
    from ..team import former_members, plan_team

    live = _live(members)

    async def fetch(m: Member) -> None:
        try:
            rosters[m.name] = await m.session.roster_get()
        except Exception as exc:  # noqa: BLE001
            m.error = exc

    rosters: dict[str, Any] = {}
    await asyncio.gather(*(fetch(m) for m in live.values()))
    pre = {n: members[n].session.has_feature(*PREAPPROVAL_FEATURE) for n in rosters}
    former = former_members(team, jids, rosters, configured) if configured is not None else None
    return plan_team(team, jids, rosters, pre, former)


def _has_work(plan: TeamPlan) -> bool:
    return bool(plan.handshakes) or any(a.changes for a in plan.accounts)


async def _backup_and_confirm(plan: TeamPlan, members: dict[str, Member], yes: bool, backup_dir: Any) -> list[str]:
    """Export every roster --prune takes an item from, then ask once for the combined plan."""
    from ..errors import XmppctlError
    from ..sync import backup_to

    removals = plan.removals()
    paths = []
    for account in dict.fromkeys(a for a, _ in removals):
        m = members[account]
        path = backup_to(backup_dir, "toml", m.sub.resolve_account().jid)(await m.session.roster_get())
        sys.stderr.write(f"xmppctl: {account}: backup of the current roster written to {path}\n")
        paths.append(str(path))
    if not yes:
        from .prompt import confirm

        listing = ", ".join(f"{a}: {c.jid}" for a, c in removals)
        if not await confirm(f"--prune removes {len(removals)} contact(s) ({listing})?"):
            raise XmppctlError("aborted: nothing was changed")
    return paths


async def _apply(plan: TeamPlan, members: dict[str, Member]) -> None:
    """Roster sets, then pre-approvals, then requests, then approvals (retried until accepted)."""
    import asyncio
    from ..team import PHASE_APPROVE, PHASE_PREAPPROVE, PHASE_REQUEST

    async def changes(account: str, todo: list) -> None:
        m = members[account]
        try:
            for change in todo:
                m.roster_sets += 1
                if change.action == "remove":
                    await m.session.roster_remove(change.jid)
                else:
                    await m.session.roster_set(change.after)
        except Exception as exc:  # noqa: BLE001 - this member fails; the others go on
            m.error = exc

    await asyncio.gather(*(changes(a.account, a.changes) for a in plan.accounts if a.changes))
    for phase in (PHASE_PREAPPROVE, PHASE_REQUEST):
        for send in plan.sends(phase):
            _send(members[send.account], send.to, send.type)
    # a round trip on every requester: its server has handled the requests sent before it
    await asyncio.gather(*(_round_trip(m) for m in _live(members).values()))
    approvals = plan.sends(PHASE_APPROVE)
    if approvals:
        await asyncio.gather(*(_approve(members[s.account], s.to) for s in approvals))


def _send(m: Member, to: str, kind: str) -> None:
    if m.session is None or m.error is not None:
        return
    m.presences += 1
    m.session.send_subscription(to, kind)


async def _round_trip(m: Member) -> None:
    try:
        await m.session.roster_get()
    except Exception as exc:  # noqa: BLE001
        m.error = exc


async def _approve(m: Member, requester: str) -> None:
    """Send ``subscribed`` until the approver's item says from/both: without pre-approval the
    server accepts it only once the request is pending there (docs/protocol-notes.md)."""
    import asyncio
    loop = asyncio.get_running_loop()
    deadline = loop.time() + m.sub.resolve_account().timeout
    delay = 0.02
    while m.error is None:
        _send(m, requester, "subscribed")
        try:
            item = next((i for i in await m.session.roster_get() if i.jid == requester), None)
        except Exception as exc:  # noqa: BLE001
            m.error = exc
            return
        if (item is not None and item.subscription in ("from", "both")) or loop.time() > deadline:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def _settle(team: Team, members: dict[str, Member], jids: dict[str, str], configured: dict[str, str] | None) -> TeamPlan:
    """Read the rosters again until the team converged (answers travel between servers) or the deadline."""
    import asyncio
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(m.sub.resolve_account().timeout for m in members.values())
    delay = 0.02
    while True:
        plan = await _plan(team, members, jids, configured)
        if not _has_work(plan) or loop.time() > deadline:
            return plan
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


# ---- the report ------------------------------------------------------------------------------


def _finish(outcome: TeamRun, jids: dict[str, str], fmt: str, *, dry_run: bool, exit_code: bool) -> int:
    from ..errors import PartialFailure
    from ..fleet import AccountOutcome, error_line, error_row, fleet_exit_code
    from ..team import ROW_COLUMNS

    last, first = outcome.last, outcome.first
    pending = _pending_accounts(last) if last is not None and not dry_run else set()
    drift = exit_code and first is not None and not first.converged
    results: list[AccountOutcome] = []
    rows: list[dict[str, Any]] = []
    for name, m in outcome.members.items():
        error = m.error or (PartialFailure(f"{name}: not converged before the deadline; run again") if name in pending else None)
        results.append(AccountOutcome(name, error=error, drift=drift))
        if dry_run:
            if error is not None:
                if fmt in ("json", "ndjson"):
                    rows.append(error_row(name, error))
                else:
                    sys.stderr.write(error_line(name, error) + "\n")
            continue
        status = "failed" if m.error else ("not-converged" if name in pending else "converged")
        err = error_row(name, error) if error is not None else {}
        rows.append({"account": name, "jid": jids[name], "status": status, "roster_sets": m.roster_sets,
                     "presences": m.presences, "error": err.get("error"), "message": err.get("message")})
    if dry_run:
        plan_rows = first.rows() if first is not None else []
        render(None, plan_rows + rows, ROW_COLUMNS, fmt)  # type: ignore[arg-type]
        if fmt == "table" and first is not None:
            counts = first.counts()
            sys.stderr.write("dry run: nothing was sent; " + ", ".join(f"{v} {k}" for k, v in counts.items() if v) + "\n"
                             if any(counts.values()) else "dry run: the team is converged; nothing to send\n")
    else:
        render(None, rows, REPORT_COLUMNS, fmt)  # type: ignore[arg-type]
    return fleet_exit_code(results)


def _pending_accounts(plan: TeamPlan) -> set[str]:
    """Members with something still to do in *plan*: their own sets or sends, or a handshake."""
    out = {a.account for a in plan.accounts if a.changes or a.sends}
    for h in plan.handshakes:
        out.update((h.requester, h.approver))
    return out
