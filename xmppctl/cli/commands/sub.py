"""``xmppctl sub ...``: presence subscriptions, one JID at a time or in bulk."""


import inspect
from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..context import DryRunOpt, OutputOpt, State, note, session, state, warn, warn_if_messages_may_arrive
from ..run import run_fleet
from ..selection import across_accounts
from ..complete import complete_group, complete_jid

if TYPE_CHECKING:
    from ...blocking import BlockResult
    from ...fleet.run import AccountOutcome
    from ...subscriptions import SubscriptionResult

app = typer.Typer(help="Presence subscriptions: request, approve, deny, cancel, revoke, pending, pre-approve.", no_args_is_help=True)

RESULT_KEYS = """JSON/NDJSON keys, one object per JID: jid (bare JID), sent (list of presence types
sent, or that would be sent with --dry-run), status (sent | dry-run | not-pending | nothing-to-do | error),
subscription (none|to|from|both: our roster's state for the JID afterwards; null if nothing
was sent), ask (boolean: our own request still pending; null if nothing was sent), error
(the server's error condition or null)."""

COLLECTION = """Inbound requests are not stored in the roster: the server redelivers them when a
session sends initial presence.  So this command sends initial presence, reads the roster,
then collects `subscribe` presences until nothing new arrived for --settle seconds (or
--timeout).  It never makes the server hand over the account's stored offline messages:
first it asks for XEP-0013 flexible offline retrieval; where the server confirms it
(ejabberd, which redelivers pending requests only at priority >= 0) the presence has
priority 0, otherwise -1 (Prosody redelivers at any priority).  An explicit --priority >= 0
is warned about: any message the server then routes to this session is reported on stderr
and kept in $XDG_DATA_HOME/xmppctl/received-messages.ndjson."""

JidsArg = Annotated[list[str], typer.Argument(metavar="JID", autocompletion=complete_jid, help="Bare JIDs (user@domain).", show_default=False)]
OptJidsArg = Annotated[Optional[list[str]], typer.Argument(metavar="JID", help="Bare JIDs with a pending request.", show_default=False)]
AllOpt = Annotated[bool, typer.Option("--all", help="Every pending inbound request.")]
MatchOpt = Annotated[Optional[list[str]], typer.Option("--match", "-m", metavar="GLOB", help="Pending requests whose JID matches GLOB, e.g. '*@example.org' (repeatable: any of them).", show_default=False)]
PriorityOpt = Annotated[Optional[int], typer.Option("--priority", metavar="N", min=-128, max=127, help="Priority of the initial presence used to collect pending requests [default: 0 where XEP-0013 keeps offline messages stored, else -1; see above].", show_default=False)]
SettleOpt = Annotated[float, typer.Option("--settle", metavar="SECONDS", min=0.0, help="Quiet period that ends the collection of pending requests.")]


class Direction(str, Enum):
    in_ = "in"
    out = "out"


def _extend_doc(command, text: str) -> None:
    """Append a shared help paragraph (docstrings are dedented first so click keeps the layout)."""
    command.__doc__ = inspect.cleandoc(command.__doc__ or "") + "\n\n" + text


def _validate(st: State, jids: Sequence[str]) -> list[str]:
    """Every JID valid, bare, normalised, not our own: all checked before we log in."""
    from ...jid import bare_jids
    from ...subscriptions import check_not_self

    from ..run import account_states

    out = bare_jids(list(jids))
    for sub in account_states(st).values():
        check_not_self(sub.resolve_account().jid, out)
    return out


def _failure(results: "list[SubscriptionResult]", rows: "dict[str, dict] | None" = None) -> Exception | None:
    """The error for results where some JID was not done, by the one exit rule (6 when none was
    done: refused, or no pending request, like a roster edit of an unknown contact; 7 when some
    were); None when all were."""
    from ...errors import items_failure

    rows = rows if rows is not None else {r.jid: r.to_dict() for r in results}
    failed = [r for r in results if r.failed or rows[r.jid].get("blocked") is False]
    if not failed:
        return None
    summary = ", ".join(f"{r.jid} ({rows[r.jid]['error'] or r.status})" for r in failed[:5]) + (" ..." if len(failed) > 5 else "")
    details = [rows[r.jid] for r in failed]
    applied = len(failed) < len(results)
    refused = any(r.status == "error" or rows[r.jid].get("blocked") is False for r in failed)
    prefix = f"{len(failed)} of {len(results)} failed" if applied else "server refused" if refused else "no pending request from"
    return items_failure([(r.jid, rows[r.jid]["error"] or "item-not-found") for r in failed], applied=applied,
                         message=f"{prefix}: {summary}", details=details)


def _with_block(result: "SubscriptionResult", blocks: "dict[str, BlockResult] | None") -> dict:
    """The result row; with --block plus ``blocked``: true (done or already), false (refused), null (nothing sent)."""
    row = result.to_dict()
    if blocks is None:
        return row
    block = blocks.get(result.jid)
    row["blocked"] = None if block is None else block.ok
    if block is not None and block.ok is False and row["error"] is None:
        row["error"] = block.error
    return row


def _simple(ctx: typer.Context, kind: str, jids: list[str], output, dry_run: bool, **kwargs) -> None:
    """cancel / revoke / preapprove / request: send one kind of presence to each named JID."""
    from ...subscriptions import RESULT_COLUMNS, SENDS, PresenceWatcher, SubscriptionResult, send_kind

    st = state(ctx)
    fmt = st.output_format(output)
    targets = _validate(st, jids)

    async def send(sub: State) -> list:
        if dry_run:
            return [SubscriptionResult(j, SENDS[kind], "dry-run") for j in targets]
        watcher = PresenceWatcher()
        async with session(sub, stanza_hook=watcher, changes=True) as s:
            return await send_kind(s, watcher, kind, targets, **kwargs)

    run_fleet(st, fmt, RESULT_COLUMNS, lambda sub: _results(sub, send(sub)))


async def _results(sub: State, sending) -> "AccountOutcome":
    """One account's per-JID results as rows, failed if some JID was not done (exit 6/7)."""
    from ...fleet.run import AccountOutcome

    results = await sending
    return AccountOutcome(sub.account or "", rows=[r.to_dict() for r in results], error=_failure(results))


def _answer(ctx: typer.Context, kind: str, jids: list[str] | None, all_: bool, match: list[str] | None,
            priority: int | None, settle: float, output, dry_run: bool, block: bool = False) -> None:
    """approve / deny: collect the pending requests, select, answer only those that are pending."""
    from ...errors import UsageError
    from ...subscriptions import RESULT_COLUMNS, PresenceWatcher, answer_pending, validate_patterns

    st = state(ctx)
    fmt = st.output_format(output)
    named = _validate(st, jids or [])
    patterns = validate_patterns(match or [])
    if all_ and (named or patterns):
        raise UsageError("--all cannot be combined with JIDs or --match")
    if not (all_ or named or patterns):
        raise UsageError("name at least one JID, or use --all or --match GLOB")
    warn_if_messages_may_arrive(priority)

    async def job(sub: State) -> "AccountOutcome":
        from ...fleet.run import AccountOutcome

        who = f"{sub.account}: " if st.fleet_accounts is not None else ""
        watcher = PresenceWatcher()
        async with session(sub, stanza_hook=watcher, subscriptions_expected=True, changes=not dry_run) as s:
            outcome = await answer_pending(s, watcher, kind, jids=named, all_=all_, patterns=patterns,
                                           priority=priority, settle=settle, dry_run=dry_run, block=block)
            if outcome.others:  # delivered to us, so never left unmentioned
                others = outcome.others
                warn(f"{who}{len(others)} other pending request(s) not answered: " + ", ".join(others[:10])
                     + (" ..." if len(others) > 10 else "") + " (see `xmppctl sub pending`)")
        if not outcome.results:
            note(st, f"xmppctl: {who}no pending request selected")
        rows = {r.jid: _with_block(r, outcome.blocks) for r in outcome.results}
        return AccountOutcome(sub.account or "", rows=list(rows.values()), error=_failure(outcome.results, rows))

    run_fleet(st, fmt, RESULT_COLUMNS + (("blocked",) if block else ()), job)


@app.command("request")
@across_accounts
def request_(
    ctx: typer.Context,
    jids: JidsArg,
    name: Annotated[Optional[str], typer.Option("--name", metavar="NAME", help="Also set the contact's roster name.", show_default=False)] = None,
    group: Annotated[Optional[list[str]], typer.Option("--group", "-g", metavar="GROUP", autocompletion=complete_group, help="Put the contact in GROUP (repeatable); replaces its groups, as in `roster add`.", show_default=False)] = None,
    add_group: Annotated[Optional[list[str]], typer.Option("--add-group", metavar="GROUP", autocompletion=complete_group, help="Add GROUP, keep the others (repeatable).", show_default=False)] = None,
    nick: Annotated[Optional[str], typer.Option("--nick", metavar="NICK", help="Our nickname, sent with the request (XEP-0172).", show_default=False)] = None,
    message: Annotated[Optional[str], typer.Option("--message", metavar="TEXT", help="A status text sent with the request.", show_default=False)] = None,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Ask to see each JID's presence (send `subscribe`).

    The server adds the contact to the roster (ask=subscribe) if it is absent.  With --name,
    --group or --add-group the roster item is first written: --name replaces the name, --group
    replaces the groups (as in `roster add` and `roster set`), --add-group adds to them; what is
    not asked for, and what other clients stored on the item, is kept.
    --nick and --name are one line; --message may span lines; control characters: exit 2.

    """
    from ...errors import UsageError
    from ...text import validate_groups, validate_name, validate_nick, validate_status

    groups = validate_groups(group, "--group") if group else None
    if group and add_group:
        raise UsageError("--group replaces all groups: do not combine it with --add-group")
    add_groups = validate_groups(add_group or [], "--add-group")
    if name is not None and not name.strip():
        raise UsageError("--name: empty name")
    name = validate_name(name, "--name")
    nick = validate_nick(nick, "--nick")
    message = validate_status(message, "--message")
    _simple(ctx, "request", jids, output, dry_run, name=name, groups=groups, add_groups=add_groups, nick=nick,
            message=message)


_extend_doc(request_, RESULT_KEYS)


@app.command("approve")
@across_accounts
def approve(
    ctx: typer.Context,
    jids: OptJidsArg = None,
    all_: AllOpt = False,
    match: MatchOpt = None,
    and_request: Annotated[bool, typer.Option("--and-request", help="Also ask for their presence (mutual subscription).")] = False,
    priority: PriorityOpt = None,
    settle: SettleOpt = 0.3,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Approve pending inbound requests (send `subscribed`): named JIDs, --all, or --match GLOB.

    Only JIDs with a pending request are answered: `subscribed` to anyone else would store a
    pre-approval, so they are reported as not-pending and nothing is sent to them: exit 6 when
    no JID was pending, 7 when others were approved (like a roster edit of a contact not in the
    roster).  --dry-run lists whom it would approve.

    Fleet mode (several -a, a glob, --all-accounts): each account collects its own pending
    requests and answers those the JIDs, --all or --match select; rows gain a leading account,
    the warning about requests left unanswered names the account; exit 0 all done, 7 some
    accounts failed (an account with a JID not pending counts as failed).

    """
    _answer(ctx, "approve-and-request" if and_request else "approve", jids, all_, match, priority, settle, output, dry_run)


_extend_doc(approve, COLLECTION + "\n\n" + RESULT_KEYS)


@app.command("deny")
@across_accounts
def deny(
    ctx: typer.Context,
    jids: OptJidsArg = None,
    all_: AllOpt = False,
    match: MatchOpt = None,
    block: Annotated[bool, typer.Option("--block", help="Also block each denied JID (XEP-0191), in the same run.")] = False,
    priority: PriorityOpt = None,
    settle: SettleOpt = 0.3,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Deny pending inbound requests (send `unsubscribed`): named JIDs, --all, or --match GLOB.

    Only JIDs with a pending request are answered (to revoke an existing subscriber use
    `sub revoke`).  --dry-run lists whom it would deny.

    With --block each denied JID is then blocked (XEP-0191; `xmppctl block remove` undoes
    it), so its new requests no longer reach the account.  The server is asked first
    whether it supports blocking; if not: exit 6, and nothing else is sent.  Rows get the
    extra key blocked (true: blocked now or already; false: the server refused, condition
    in error, exit 6/7; null: nothing was sent, e.g. --dry-run or not pending).

    Fleet mode (several -a, a glob, --all-accounts): each account collects, denies (and with
    --block blocks, where its own server offers XEP-0191) its own pending requests; rows gain a
    leading account; exit 0 all done, 7 some accounts failed.

    """
    _answer(ctx, "deny", jids, all_, match, priority, settle, output, dry_run, block)


_extend_doc(deny, COLLECTION + "\n\n" + RESULT_KEYS)


@app.command("cancel")
@across_accounts
def cancel(ctx: typer.Context, jids: JidsArg, dry_run: DryRunOpt = False, output: OutputOpt = None) -> None:
    """Stop seeing each JID's presence, or withdraw our pending request (send `unsubscribe`).

    both becomes from, to becomes none.  A JID whose presence we neither see nor asked for
    (subscription none or from, no pending request) is reported as nothing-to-do: nothing is
    sent to it and it is not a failure.

    """
    _simple(ctx, "cancel", jids, output, dry_run)


_extend_doc(cancel, RESULT_KEYS)


@app.command("revoke")
@across_accounts
def revoke(ctx: typer.Context, jids: JidsArg, dry_run: DryRunOpt = False, output: OutputOpt = None) -> None:
    """Stop each JID from seeing our presence (send `unsubscribed` to a subscriber).

    both becomes to, from becomes none.

    """
    _simple(ctx, "revoke", jids, output, dry_run)


_extend_doc(revoke, RESULT_KEYS)


@app.command("preapprove")
@across_accounts
def preapprove(ctx: typer.Context, jids: JidsArg, dry_run: DryRunOpt = False, output: OutputOpt = None) -> None:
    """Pre-approve each JID's future request (RFC 6121 §3.4: send `subscribed` before they ask).

    Only when the server advertises pre-approval (urn:xmpp:features:pre-approval); otherwise
    exit 6 with "server does not support pre-approval" and nothing is sent.  A JID that already
    has a pending request is simply approved.

    """
    _simple(ctx, "preapprove", jids, output, dry_run)


_extend_doc(preapprove, RESULT_KEYS)


@app.command("pending")
@across_accounts
def pending(
    ctx: typer.Context,
    direction: Annotated[Optional[Direction], typer.Option("--direction", "-d", help="Only inbound (in) or outbound (out) requests.", show_default=False)] = None,
    priority: PriorityOpt = None,
    settle: SettleOpt = 0.3,
    output: OutputOpt = None,
) -> None:
    """List pending subscription requests: inbound (they asked us) and outbound (we asked them).

    Outbound requests are roster items with ask=subscribe.

    JSON/NDJSON keys: direction (in|out), jid (bare JID), subscription (none|to|from|both, our
    roster's state for the JID), nick (the requester's nickname, XEP-0172, or null), message
    (the status text sent with the request, or null); inbound first, each sorted by JID.

    Fleet mode (several -a, a glob, --all-accounts): every account's requests, each row with a
    leading account key/column.

    """
    from ...subscriptions import PENDING_COLUMNS, PresenceWatcher, collect_pending, pending_requests

    st = state(ctx)
    fmt = st.output_format(output)
    st.resolve_account()
    warn_if_messages_may_arrive(priority)

    async def rows_of(sub: State) -> list:
        watcher = PresenceWatcher()
        async with session(sub, stanza_hook=watcher, subscriptions_expected=True) as s:
            inbound, roster = await collect_pending(s, watcher, priority=priority, settle=settle)
        return [p.to_dict() for p in pending_requests(inbound, roster) if direction is None or p.direction == direction.value]

    run_fleet(st, fmt, PENDING_COLUMNS, rows_of, empty="no pending requests")


_extend_doc(pending, COLLECTION)
