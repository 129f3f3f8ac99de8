"""``xmppctl block ...``: the account's block list (XEP-0191)."""


import inspect
from typing import Annotated, Optional

import typer

from ..context import DryRunOpt, OutputOpt, session, state
from ..run import account_states, run_fleet
from ..selection import across_accounts

app = typer.Typer(help="Block and unblock JIDs (XEP-0191): list, add, remove.", no_args_is_help=True)

SUPPORT = """The server is asked first (disco#info) whether it supports blocking; one without
urn:xmpp:blocking gets nothing else: exit 6, "server does not support blocking (XEP-0191)"."""

RESULT_KEYS = """Prints one row per JID, sorted.  JSON/NDJSON keys: action (block|unblock|skip:
already in that state, nothing sent), jid, ok (boolean; null with --dry-run, where nothing is
sent), error (the server's error condition, "timeout", or null), message (string or null).
Exit 6 if every JID that was sent failed, 7 if some failed and the others were done."""

JidsArg = Annotated[list[str], typer.Argument(metavar="JID...", help="Bare JIDs (user@domain), full JIDs (user@domain/resource) or domains (spam.example).", show_default=False)]


def _extend_doc(command, *texts: str) -> None:
    command.__doc__ = "\n\n".join([inspect.cleandoc(command.__doc__ or ""), *texts])


def _rows(st, fmt: str, dry_run: bool, results_of) -> None:
    """Each account's per-JID results as rows, failed by the one exit rule (6/7)."""
    from ...blocking import RESULT_COLUMNS

    async def job(sub):
        from ...blocking import raise_for_results
        from ...fleet.run import AccountOutcome

        async with session(sub) as s:
            results = await results_of(s)
        outcome = AccountOutcome(sub.account or "", rows=[r.to_dict() for r in results],
                                 notes=["dry run: nothing was sent"] if dry_run else [])
        try:
            raise_for_results(results)
        except Exception as exc:  # noqa: BLE001 - reported with the rows
            outcome.error = exc
        return outcome

    run_fleet(st, fmt, RESULT_COLUMNS, job)


@app.command("list")
@across_accounts
def list_(ctx: typer.Context, output: OutputOpt = None) -> None:
    """List the blocked JIDs, sorted.

    JSON/NDJSON key: jid (a bare JID, a full JID or a domain).
    """
    from ...blocking import LIST_COLUMNS, fetch_blocklist, require_blocking

    st = state(ctx)
    fmt = st.output_format(output)

    async def job(sub):
        async with session(sub) as s:
            await require_blocking(s)
            return [{"jid": jid} for jid in await fetch_blocklist(s)]

    run_fleet(st, fmt, LIST_COLUMNS, job, empty="no blocked JIDs")


_extend_doc(list_, SUPPORT)


@app.command("add")
@across_accounts
def add(ctx: typer.Context, jids: JidsArg, dry_run: DryRunOpt = False, output: OutputOpt = None) -> None:
    """Block each JID: a bare JID, a full JID, or a whole domain.

    The server then drops what a blocked JID sends to this account (messages, presences,
    subscription requests included, and IQs) and sends it none of ours.  A domain blocks every
    address at it.  Every JID is checked before logging in (exit 2 for an
    invalid one, your own JID or your own server); JIDs already blocked are skipped.
    """
    from ...blocking import block_jids, change, check_blockable

    st = state(ctx)
    fmt = st.output_format(output)
    targets = block_jids(jids)
    for sub in account_states(st).values():
        check_blockable(sub.resolve_account().jid, targets)
    _rows(st, fmt, dry_run, lambda s: change(s, "block", targets, dry_run=dry_run))


_extend_doc(add, SUPPORT, RESULT_KEYS)


@app.command("remove")
@across_accounts
def remove(
    ctx: typer.Context,
    jids: Annotated[Optional[list[str]], typer.Argument(metavar="JID...", help="Blocked JIDs, as `block list` shows them.", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Unblock every JID (one unblock without items).")] = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Unblock each JID, or every JID with --all.

    JIDs that are not blocked are skipped (nothing sent).  With --all and an empty block list
    nothing is sent and nothing is printed.
    """
    from ...blocking import block_jids, change, unblock_all
    from ...errors import UsageError

    st = state(ctx)
    fmt = st.output_format(output)
    targets = block_jids(jids or [])
    if all_ and targets:
        raise UsageError("--all cannot be combined with JIDs")
    if not (all_ or targets):
        raise UsageError("name at least one JID, or use --all")
    _rows(st, fmt, dry_run, lambda s: unblock_all(s, dry_run=dry_run) if all_ else change(s, "unblock", targets, dry_run=dry_run))


_extend_doc(remove, SUPPORT, RESULT_KEYS)
