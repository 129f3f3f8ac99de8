"""``xmppctl -a OLD roster migrate --to NEW``: move contacts and subscriptions (xmppctl/migrate.py)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Annotated, Optional

import typer

from .common import OutputOpt, State, note, render, run, session, state


def register(app: typer.Typer) -> None:
    """Add ``migrate`` to the ``roster`` command group."""
    app.command("migrate")(migrate)


def migrate(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", metavar="NAME", help="The configured account (a name in the config file) to move to.", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Read both accounts and print the plan; send nothing.")] = False,
    rate: Annotated[str, typer.Option("--rate", metavar="N/s", help="Pace of the subscription requests NEW sends.")] = "10/s",
    announce: Annotated[bool, typer.Option("--announce", help="OLD publishes the XEP-0283 moved statement (PEP node urn:xmpp:moved:1, open access) naming NEW.")] = False,
    unsubscribe_old: Annotated[bool, typer.Option("--unsubscribe-old", help="Afterwards OLD cancels its subscriptions with every contact NEW has the same ones with (needs --yes).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm --unsubscribe-old.")] = False,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 10 while some contact is still waiting (for an answer or a request), 0 when all are done.")] = False,
    settle: Annotated[float, typer.Option("--settle", metavar="SECONDS", min=0.0, help="Quiet period that ends the collection of pending requests on each account.")] = 0.3,
    output: OutputOpt = None,
) -> None:
    """Move the account's contacts to the account NEW and re-establish the subscriptions.

    Reads both rosters and both accounts' pending requests first (each account sends an
    initial presence the way `sub pending` does, so stored offline messages stay stored), prints
    the plan on stderr, then from NEW: copies every contact (name and groups; NEW's own items
    are merged, never removed; both accounts' own JIDs are skipped); for contacts who saw OLD's
    presence (from/both) pre-approves them (RFC 6121 §3.4) where NEW's server advertises it,
    else approves their request once it has arrived (this run or a later one); for contacts
    whose presence OLD saw (to/both, or OLD's request pending) sends a subscription request
    carrying XEP-0283 <moved><old-jid>OLD</old-jid></moved>, --rate per second.  Requests
    pending on OLD are listed and kept.  Nothing on OLD changes unless --announce or
    --unsubscribe-old (with --yes) is given.  Run it again later: it sends only what is still
    missing (pre-approvals sent are remembered in $XDG_DATA_HOME/xmppctl/migrations/).

    One row per contact.  JSON/NDJSON keys: jid, copied (add|update|unchanged|none|failed),
    old_subscription and new_subscription (none|to|from|both, "+ask" when a request is
    pending), step (preapprove|approve|request joined by "+", or none: what this run sent, or
    would send with --dry-run), status (done: NEW has every direction OLD had; waiting: for the
    contact's answer or request; failed), error (condition or null), note.  Exit 7 when some
    steps failed; with --exit-code 10 while some contact is waiting.
    """
    from ..errors import UsageError
    from .roster import _parse_rate

    st = state(ctx)
    fmt = st.output_format(output)
    per_second = _parse_rate(rate)
    if unsubscribe_old and not yes and not dry_run:
        raise UsageError("--unsubscribe-old cancels OLD's subscriptions: pass --yes to confirm")
    old_account = st.resolve_account()
    new_st = _target_state(st, to)
    new_account = new_st.resolve_account()
    if new_account.jid == old_account.jid:
        raise UsageError(f"--to {to}: that is the same account ({new_account.jid})")
    outcome = run(lambda _stop: _migrate(st, new_st, dry_run=dry_run, rate=per_second, announce_move=announce,
                                         unsubscribe_old=unsubscribe_old, settle=settle))
    _finish(st, fmt, outcome, exit_code=exit_code)


def _target_state(st: State, name: str) -> State:
    """NEW's state: its account from the config file alone (none of OLD's command-line or
    XMPPCTL_* overrides apply to it), and none of the passwords given for OLD (--password-stdin,
    XMPPCTL_PASSWORD): NEW's password comes from XMPPCTL_PASSWORD_<NEW>, its password_command,
    its stored password or the keyring."""
    from dataclasses import replace

    from ..config import resolve_account
    from ..errors import UsageError

    config = st.config()
    if name not in config.accounts:
        known = ", ".join(sorted(config.accounts)) or "none"
        raise UsageError(f"--to {name}: no such account in {config.path} (accounts: {known})")
    account = resolve_account(config, account=name, timeout=st.timeout, env={})
    # for_account: one of several accounts of this run, so XMPPCTL_PASSWORD is not read for it
    return replace(st.for_account(name), jid=None, server=None, port=None, tls=None, ca_file=None, insecure=False,
                   allow_plaintext=False, password_stdin=False, _account=account)


async def _both(first, second):
    """Run two coroutines together; the first failure cancels the other and is raised as is."""
    import asyncio

    try:
        async with asyncio.TaskGroup() as group:
            a, b = group.create_task(first), group.create_task(second)
    except BaseExceptionGroup as eg:
        raise eg.exceptions[0] from None
    return a.result(), b.result()


async def _migrate(st: State, new_st: State, *, dry_run: bool, rate: float, announce_move: bool,
                   unsubscribe_old: bool, settle: float):
    from .. import migrate as mig
    from ..errors import ServerRefused
    from ..subscriptions import PREAPPROVAL_FEATURE, PresenceWatcher, collect_pending, send_and_report

    old_watch, new_watch = PresenceWatcher(), PresenceWatcher()
    async with AsyncExitStack() as stack:

        async def login_and_read(sub: State, watch: PresenceWatcher):
            s = await stack.enter_async_context(session(sub, stanza_hook=watch, subscriptions_expected=True))
            pending, roster = await collect_pending(s, watch, settle=settle)
            return s, pending, roster

        # both accounts at once: the logins and the quiet periods overlap
        (old, old_pending, old_roster), (new, new_pending, new_roster) = await _both(
            login_and_read(st, old_watch), login_and_read(new_st, new_watch))
        state_file = mig.state_path(old.bare_jid, new.bare_jid)
        preapproved = mig.load_preapproved(state_file)
        plan = mig.plan_migration(old_roster, new_roster, old_jid=old.bare_jid, new_jid=new.bare_jid,
                                  new_pending_in=new_pending, old_pending_in=old_pending,
                                  preapproval=new.has_feature(*PREAPPROVAL_FEATURE), preapproved=preapproved)
        note(st, _plan_line(plan, dry_run))
        if dry_run:
            rows = mig.report(plan, {i.jid: i for i in new_roster}, preapproved=preapproved)
            return mig.MigrationOutcome(plan, rows)
        outcome = await mig.carry_out(new, new_watch, plan, rate=rate, preapproved=preapproved)
        if outcome.preapproved != preapproved:
            mig.save_preapproved(state_file, old.bare_jid, new.bare_jid, outcome.preapproved)
        if unsubscribe_old:
            cancels = mig.unsubscribe_old_plan(outcome.rows, old_roster)
            if cancels:
                results = await send_and_report(old, old_watch, cancels)
                outcome.sent += sum(len(r.sent) for r in results)
                note(st, f"xmppctl: OLD cancelled its subscriptions with {len(cancels)} contact(s)")
        if announce_move:
            try:
                await mig.announce(old, new_st.resolve_account().jid)
                outcome.sent += 1
                note(st, f"xmppctl: OLD published the XEP-0283 moved statement ({mig.MOVED_NS})")
            except ServerRefused as exc:
                outcome.announce_error = exc
    return outcome


def _plan_line(plan, dry_run: bool) -> str:
    c = plan.counts()
    line = (f"xmppctl: plan {plan.old_jid} -> {plan.new_jid}: {len(plan.contacts)} contact(s); "
            f"{c['copy']} roster item(s) to copy, {c['preapprove']} pre-approval(s), {c['approve']} approval(s), "
            f"{c['request']} subscription request(s)")
    if not plan.preapproval:
        line += "; NEW's server does not advertise pre-approval: contacts who saw OLD are approved when they ask"
    if c["pending_on_old"]:
        line += f"; {c['pending_on_old']} request(s) pending on OLD (kept; they must ask NEW)"
    return line + ("; dry run: nothing is sent" if dry_run else "")


def _finish(st: State, fmt: str, outcome, *, exit_code: bool) -> None:
    from ..errors import DriftFound, PartialFailure, ServerRefused
    from ..migrate import MIGRATE_COLUMNS

    rows = [r.to_dict() for r in outcome.rows]
    render(st, rows, MIGRATE_COLUMNS, fmt, empty="OLD has no contacts to move")
    counts = {s: sum(1 for r in outcome.rows if r.status == s) for s in ("done", "waiting", "failed")}
    if fmt == "table":
        note(st, f"xmppctl: {counts['done']} done, {counts['waiting']} waiting, {counts['failed']} failed; "
                 f"{outcome.sent} stanza(s) sent")
    failed = [r for r in outcome.rows if r.status == "failed"]
    announce_error = outcome.announce_error
    if failed or announce_error is not None:
        parts = [f"{r.jid} ({r.error})" for r in failed[:5]]
        if announce_error is not None:
            parts.append(f"--announce: {announce_error.message}")
        details = [r.to_dict() for r in failed]
        if not rows and announce_error is not None:
            raise ServerRefused(announce_error.message, condition=announce_error.condition)
        raise PartialFailure(f"{len(failed) + (announce_error is not None)} step(s) failed: " + ", ".join(parts),
                             details=details)
    if exit_code and counts["waiting"]:
        raise DriftFound(f"{counts['waiting']} contact(s) still waiting", details=counts)
