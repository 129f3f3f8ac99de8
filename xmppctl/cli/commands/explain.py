"""``xmppctl presence explain JID``: registered on the presence sub-app (imported by cli/__init__)."""


import sys
from contextlib import asynccontextmanager
from typing import Annotated, Any, Optional

import typer

from ..context import OutputOpt, render, run, session, state, warn
from ..selection import one_account
from .presence import app as presence_app

EXPLAIN_HELP = """Gathers, in one session: the roster item (present? subscription, ask), a pending
request in either direction, whether you block the contact (where the server offers
XEP-0191), what a probe returns per resource, and the last activity (XEP-0012) of an offline
contact.  The report ends with a one-line verdict.  The session sends initial presence like
`sub pending` (which keeps stored offline messages stored), so the contacts that see your
presence may see this account online for a moment; subscription requests are not answered.

With --peer-account NAME (the contact's account, from the config file) a second session
logs in as the contact afterwards and reads the other side: does the contact have you in its
roster, did it approve you, does it have your pending request, does it block you.  The
verdict then names the side that must act.  That account is taken from the config file alone
(jid, server, port, tls, ca_file, timeout, and password_command, a stored password or the
keyring): XMPPCTL_* variables, --password-stdin and the other global options apply to your
own account only (--timeout and --debug apply to both).

JSON keys: jid (the contact), account (your JID), in_roster, subscription (none|to|from|both),
ask (your request is pending), approved (you approved the contact: it sees your presence),
pending_in (the contact's request waits for your answer), blocked (you block it; null when
the server offers no XEP-0191), blocked_by (your block list entries that cover it: its JID or its domain; entries for single resources do not count),
blocking_supported, state (the probe's: online, offline, no-subscription, not-in-roster,
error or timeout; null when not probed because you block the contact), resources (list of
{resource, show, status, priority, since}), status, last_seen, idle (seconds), error, peer
(null, or the same facts as the contact's account sees you: {name, account, in_roster,
subscription, ask, approved, pending_in, blocked, blocked_by}), code (below), must_act (you,
contact or null: who must act for presence to flow), verdict (the line).  Table and CSV: the
same fields, one per line or column, resources as text, the peer's fields as peer_*.

Verdict codes, with who must act ("peer": seen only with --peer-account): blocked (you block
the contact; you), blocked-by-contact (it blocks you; the contact; peer), not-in-roster (you),
not-subscribed (subscription none or from; you), request-pending (your request waits for its
approval; the contact), request-lost (your request is pending, the contact has none; you;
peer), out-of-sync (you are subscribed, its roster disagrees; you; peer), refused (its server
answered the probe with unsubscribed; you), online, offline (with the last activity where
known), probe-error, no-answer (nothing came by --timeout: unreachable, or it blocks you).

Exit 0 whatever the verdict: it is a report, not a check."""


def _peer_account(st: Any, name: str, contact: str) -> tuple[Any, str]:
    """The contact's account from the config file alone, and its password: all before login."""
    from ...config import read_password, resolve_account
    from ...errors import UsageError

    config = st.config()
    if name not in config.accounts:
        known = ", ".join(sorted(config.accounts)) or "none configured"
        raise UsageError(f"--peer-account: {config.path}: no account named {name!r} (accounts: {known})")
    account = resolve_account(config, account=name, timeout=st.timeout, env={})
    if account.jid != contact:
        raise UsageError(f"--peer-account {name} is {account.jid}, not {contact}")
    if account.jid == st.resolve_account().jid:
        raise UsageError(f"--peer-account {name} is your own account")
    return account, read_password(account, env={})


@asynccontextmanager
async def _peer_session(st: Any, account: Any, password: str, hook: Any):
    """A session as the contact's account: like common.session, but never with the main
    account's password sources (environment, stdin)."""
    from ...xmpp.session import configure_logging, open_session
    from ...xmpp.keeper import StrayKeeper
    from ..context import stray_report

    configure_logging(st.debug, password)
    if account.insecure:
        warn(f"--peer-account: the TLS certificate of {account.jid}'s server is NOT verified (insecure = true)")
    keeper = StrayKeeper(account.jid, stray_report(st), subscriptions_expected=True)
    async with open_session(account, password, keeper=keeper, stanza_hook=hook) as s:
        yield s


def _render(st: Any, data: dict, fmt: str) -> None:
    from ...explain import flat_report, table_report
    from ...output import render_object

    if fmt == "json" or fmt == "ndjson":
        render_object(data, fmt, sys.stdout)
    elif fmt == "csv":
        flat = flat_report(data)
        render(st, [flat], list(flat), fmt)
    else:
        render_object(table_report(data), fmt, sys.stdout)


@presence_app.command("explain")
@one_account("it diagnoses one contact from one account (and, with --peer-account, from the contact's side)")
def explain(
    ctx: typer.Context,
    jid: Annotated[str, typer.Argument(metavar="JID", help="The contact (bare JID).", show_default=False)],
    peer_account: Annotated[Optional[str], typer.Option("--peer-account", metavar="NAME", help="Also log in as the contact's account NAME from the config file and check its side.", show_default=False)] = None,
    output: OutputOpt = None,
) -> None:
    """Say why a contact shows as it does from this account: facts, then a one-line verdict."""
    from ...errors import UsageError
    from ...explain import ExplainFacts, StanzaHooks, gather, gather_side, report
    from ...jid import bare_jid

    st = state(ctx)
    fmt = st.output_format(output)
    contact = bare_jid(jid)
    own_jid = st.resolve_account().jid
    if contact == own_jid:
        raise UsageError(f"{contact} is your own JID")
    peer = _peer_account(st, peer_account, contact) if peer_account else None

    async def job(_stop):
        hooks = StanzaHooks()
        async with session(st, stanza_hook=hooks, subscriptions_expected=True) as s:
            own, probed = await gather(s, hooks, contact)
        other = None
        if peer is not None:  # after ours: its presence must not show up in our probe
            peer_hooks = StanzaHooks()
            async with _peer_session(st, *peer, peer_hooks) as p:
                other = await gather_side(p, peer_hooks, own_jid)
        return ExplainFacts(own=own, probe=probed, peer=other, peer_account=peer_account)

    _render(st, report(run(job)), fmt)


explain.__doc__ = (explain.__doc__ or "").rstrip() + "\n\n" + EXPLAIN_HELP
