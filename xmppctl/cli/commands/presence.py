"""``xmppctl presence ...``: set presence, take a snapshot (probe), watch changes, explain a contact."""


import inspect
import re
import sys
from contextlib import asynccontextmanager
from typing import Annotated, Any, Optional

import typer

from ..context import OutputOpt, render, run, session, state, warn, warn_if_messages_may_arrive
from ..selection import across_accounts, one_account
from ..metrics_out import MetricsOutputOpt, TextfileOpt, metrics_format

app = typer.Typer(help="Set presence, take a presence snapshot (probe), or watch presence changes.", no_args_is_help=True)

PriorityOpt = Annotated[
    Optional[int],
    typer.Option("--priority", "-p", metavar="N", help="Priority of our own presence, -128..127 [default: -1, so the server does not flush offline messages to this session].", show_default=False),
]
GroupOpt = Annotated[Optional[list[str]], typer.Option("--group", "-g", metavar="GROUP", help="Contacts in GROUP (repeatable).", show_default=False)]
InvisibleOpt = Annotated[bool, typer.Option("--invisible", help="Do not appear online to the contacts (XEP-0186); exit 6 where the server lacks it, with nothing else sent.")]

INVISIBLE_DOC = """Invisibility: without --invisible the contacts who see our presence (subscription from/both)
see this session come online (priority -1, resource xmppctl-...) and go offline when it
ends.  --invisible first asks the server (disco#info) for XEP-0186 (urn:xmpp:invisible:0)
and makes the session invisible before any presence; a server without it (Prosody 0.12 and
ejabberd 23.01 as shipped) gets nothing else and the exit code is 6 (docs/protocol-notes.md)."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: str, *, option: str, allow_forever: bool = False) -> float | None:
    """Seconds in "90", "90s", "1.5m", "1h30m", "250ms" (> 0); None for "forever" when allowed."""
    from ...errors import UsageError

    text = value.strip().lower()
    if allow_forever and text in ("forever", "inf", "infinity"):
        return None
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not text or pos != len(text) or total <= 0:
        hint = " or 'forever'" if allow_forever else ""
        raise UsageError(f"invalid {option} {value!r}: expected a positive duration like 30, 30s, 5m, 1h30m{hint}")
    return total


@app.command("set")
@across_accounts
def set_(
    ctx: typer.Context,
    show: Annotated[Optional[str], typer.Option("--show", "-s", metavar="SHOW", help="chat, away, xa, dnd or available [default: available].", show_default=False)] = None,
    status: Annotated[Optional[str], typer.Option("--status", "-m", metavar="TEXT", help="Status message.", show_default=False)] = None,
    priority: Annotated[Optional[int], typer.Option("--priority", "-p", metavar="N", help="Priority -128..127 [default: -1 for a broadcast available presence, so the server keeps your messages for your real clients].", show_default=False)] = None,
    to: Annotated[Optional[list[str]], typer.Option("--to", metavar="JID", help="Send directed presence to JID only (repeatable); no broadcast to subscribers.", show_default=False)] = None,
    unavailable: Annotated[bool, typer.Option("--unavailable", help="Send unavailable (with an optional --status) instead.")] = False,
    hold: Annotated[Optional[str], typer.Option("--hold", metavar="DURATION|forever", help="Stay online for DURATION (30, 30s, 5m, 1h) or forever; SIGINT/SIGTERM end it early. Then send unavailable and exit 0.", show_default=False)] = None,
    output: OutputOpt = None,
) -> None:
    """Send a presence, as a new session of the account.

    A presence lasts only as long as the session that sent it.  Without --hold the session ends
    right after sending, so the contacts see the account come online and go offline again: that
    is useful for directed presence (--to, e.g. to join or ping a peer), a status ping, or an
    --unavailable with a status.  With --hold the presence stays up (cron, systemd, tests) until
    the time passes or SIGINT/SIGTERM arrives; then unavailable is sent and the exit code is 0.

    Messages are never taken from your real clients: a broadcast available presence has
    priority -1 unless --priority says otherwise, so the server keeps messages addressed to the
    account stored (or routes them to your other clients).  An explicit --priority >= 0 is
    warned about; any message that reaches this session is reported on stderr and kept in
    $XDG_DATA_HOME/xmppctl/received-messages.ndjson; subscription requests are reported, never
    answered.

    Show, priority and status (no control characters but tab and line breaks) are validated
    before connecting (exit 2).  Prints what was sent once the server has it; JSON keys: jid
    (our full JID), type (available|unavailable), show (string or null), status, priority
    (integer or null), to (list of JIDs; empty for a broadcast), hold (seconds, "forever" or
    null).

    Fleet mode (several -a, a glob, --all-accounts): the same presence from every account, one
    row each with a leading account.  With --hold every session is held at once (so --parallel
    must be at least the number of accounts, else exit 2): the rows are printed when every
    account has sent its presence or failed, then all hold until the time passes or
    SIGINT/SIGTERM and each ends with unavailable; an account lost while holding is reported on
    stderr and makes the exit code 7.
    """
    from ...presence import READ_ONLY_PRIORITY, make_request

    st = state(ctx)
    fmt = st.output_format(output)
    broadcast_available = not unavailable and not to
    if priority is None and broadcast_available:
        priority = READ_ONLY_PRIORITY  # messages to the bare JID stay stored for the real clients
    req = make_request(show=show, status=status, priority=priority, to=to or (), unavailable=unavailable)
    if broadcast_available:
        warn_if_messages_may_arrive(req.priority)
    hold_for: float | None = None
    if hold is not None:
        if unavailable:
            from ...errors import UsageError

            raise UsageError("--hold keeps an available presence up; it cannot be combined with --unavailable")
        hold_for = parse_duration(hold, option="--hold", allow_forever=True)
    st.resolve_account()
    held = None if hold is None else ("forever" if hold_for is None else hold_for)
    _set(st, fmt, req, held, hold_for)


#: keys of what `presence set` prints, in this order (a documented contract)
SET_COLUMNS = ("jid", "type", "show", "status", "priority", "to", "hold")


def _set_row(s, req, held) -> dict:
    return {"jid": s.jid, "type": req.type, "show": req.show, "status": req.status, "priority": req.priority,
            "to": list(req.to), "hold": held}


def _set(st, fmt: str, req, held, hold_for: float | None) -> None:
    """The presence from each account of the run: its row once the server has it.

    With --hold every session stays up together: the rows are printed when all accounts have
    sent their presence (or failed), then all hold until the time passes or SIGINT/SIGTERM,
    and each ends with unavailable; an account lost while holding is reported on stderr (the
    document is already out) and counts as failed in the exit code.  One account prints its
    row as an object.
    """
    from ...fleet.run import AccountOutcome
    from ...output import render_object
    from ...presence import announce, hold_presence
    from ..run import conclude, emit, error_report, run_fleet, run_together

    def render_one(rows: list) -> None:
        render_object(rows[0], fmt, sys.stdout)
        sys.stdout.flush()

    if held is None:
        async def once(sub) -> list:
            async with session(sub) as s:
                await announce(s, req)
                return [_set_row(s, req, None)]

        run_fleet(st, fmt, SET_COLUMNS, once, render_one=render_one)
    rows: dict[str, dict] = {}
    fleet = st.fleet_accounts is not None

    def opened(failed: dict) -> None:
        if not fleet:
            if rows:
                render_one(list(rows.values()))
            return
        emit([AccountOutcome(n, rows=[rows[n]] if n in rows else [], error=failed.get(n))
              for n in st.fleet_accounts if n in rows or n in failed], SET_COLUMNS, fmt)
        sys.stdout.flush()

    async def holding(sub, stop, arrive) -> list:
        name = sub.account or ""
        async with session(sub) as s:
            await announce(s, req)
            rows[name] = _set_row(s, req, held)
            await arrive()
            await hold_presence(s, req, hold_for, stop)
        return [rows[name]]

    def failed_late(name: str, exc: BaseException) -> None:
        if fleet:
            error_report(name, exc, fmt)

    conclude(st, run_together(st, holding, opened=opened, failed_late=failed_late))


@app.command("probe")
@across_accounts
def probe(
    ctx: typer.Context,
    jids: Annotated[Optional[list[str]], typer.Argument(metavar="JID", help="Contacts to report on (bare JIDs).", show_default=False)] = None,
    group: GroupOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="The whole roster (the default when no JID or --group is given).")] = False,
    priority: PriorityOpt = None,
    last: Annotated[bool, typer.Option("--last", help="For offline contacts, ask the server when they were last online (XEP-0012).")] = False,
    invisible: InvisibleOpt = False,
    details: Annotated[bool, typer.Option("--details", help="Online rows: the client software (XEP-0115 caps, else XEP-0092) and idle stamp (XEP-0319), as keys client and idle_since; asked concurrently, within --timeout.")] = False,
    expect_online: Annotated[bool, typer.Option("--expect-online", help="Exit 10 when any reported contact (the named JIDs, --group members, or the roster) has no online resource; rows are printed as usual.")] = False,
    output: MetricsOutputOpt = None,
    textfile: TextfileOpt = None,
) -> None:
    """Snapshot of the contacts' presence: one row per online resource, one per other contact.

    Sends an initial presence (priority -1 unless --priority) and collects what the server
    delivers.  It ends as soon as every contact we are subscribed to (subscription to/both) has
    answered, otherwise at --timeout.  States: online (one row per resource, highest priority
    first), offline (unavailable received), no-subscription (we are not subscribed: no answer
    will come, so none is waited for), not-in-roster, error (presence error; condition in
    'error'), timeout (subscribed but nothing arrived before the deadline).

    JSON/NDJSON keys: jid, resource (string or null), state, show (chat|away|xa|dnd|available
    for online rows, else null), status, priority (integer or null), since (XEP-0203 stamp of
    the presence, or null), last_seen (ISO time from XEP-0012 with --last, or null), idle
    (seconds since last seen, or null), error (condition or null), ask (true when our own
    subscription request to the contact is still pending, e.g. a no-subscription row waiting
    for their approval; false otherwise; null when not in the roster).

    Servers that do not answer a probe for an offline contact (ejabberd) are asked XEP-0012
    last activity for the contacts still silent after our presence was processed; an answer
    that says offline makes the row 'offline' (with last_seen/idle) without waiting.

    Messages: an initial presence with priority >= 0 makes servers flush the account's stored
    offline messages to the session, hence the default -1 (they stay stored for your clients).
    An explicit --priority >= 0 is warned about before connecting; XEP-0013 is then asked to
    keep them stored where the server supports it, and any message that still reaches this
    session is reported on stderr and kept in $XDG_DATA_HOME/xmppctl/received-messages.ndjson.
    Subscription requests that arrive during the probe (or that the server redelivers to it) are
    reported on stderr (one JSON object per line with -o json/ndjson), not answered: they stay
    pending (see `xmppctl sub pending`).

    Details: with --details each row has two more keys: client (the client software of an
    online resource as "name version": a disco#info query on its XEP-0115 caps node, or a
    XEP-0092 version query when it sent no caps; null when it does not say, or did not
    answer before the probe's --timeout) and idle_since (the XEP-0319 idle stamp in its
    presence, or null).  The queries run concurrently; the probe never waits for them past
    --timeout (counted from our initial presence).
    """
    from ...presence import DETAIL_COLUMNS, READ_ONLY_PRIORITY, PROBE_COLUMNS, check_priority, select_targets

    st = state(ctx)
    fmt = metrics_format(st, output, textfile)
    if all_ and (jids or group):
        from ...errors import UsageError

        raise UsageError("--all selects the whole roster; do not combine it with JIDs or --group")
    prio = check_priority(priority if priority is not None else READ_ONLY_PRIORITY)
    select_targets([], jids or (), ())  # validates the JIDs before connecting
    st.resolve_account()
    warn_if_messages_may_arrive(priority)
    columns = PROBE_COLUMNS + (DETAIL_COLUMNS if details else ())

    from ..run import run_fleet

    if fmt == "prometheus":
        _probe_metrics(st, textfile, expect_online, dict(jids=jids or (), groups=group or (), priority=prio,
                                                         last=last, details=details, invisible=invisible))
    run_fleet(st, fmt, columns, lambda sub: _probe_one(sub, expect_online, jids=jids or (), groups=group or (),
                                                      priority=prio, last=last, details=details, invisible=invisible))


async def _probe_one(sub, expect_online: bool, **options):
    """One account's snapshot as rows; with --expect-online, drift (not a failure) when a contact is not online."""
    from ...errors import DriftFound
    from ...fleet.run import AccountOutcome
    from ...presence import PresenceInbox, probe

    inbox = PresenceInbox()
    async with session(sub, stanza_hook=inbox.hook) as s:
        snapshot = await probe(s, inbox, **options)
    outcome = AccountOutcome(sub.account or "", rows=[row.to_dict(options["details"]) for row in snapshot.rows])
    if expect_online:
        try:
            _check_online(snapshot.rows)
        except DriftFound as exc:  # reported after the rows
            outcome.drift = exc
    return outcome


PROBE_FLEET_DOC = """Fleet mode (several -a, a glob, --all-accounts): each account probes its own contacts (the
same JIDs, --group or whole roster); rows gain a leading account.  --expect-online is judged
per account: exit 10 when some account's expectation failed and no account failed (each
such account's message on stderr), 7 when some account failed."""

PROBE_MONITORING_DOC = """Monitoring: with --expect-online the exit code is 10 ("observed state differs from the
expected one") when any reported contact has no online resource (offline, timeout,
no-subscription, not-in-roster, error), else 0; e.g. in cron:
`xmppctl presence probe --expect-online bot@example.org || alert`.  For Nagios/Icinga see
`xmppctl check presence`.

Metrics: -o prometheus (or --textfile PATH) prints the snapshot as Prometheus metrics instead
of rows: xmppctl_contact_up{account,jid} (1 online, else 0) and
xmppctl_contact_show{account,jid,show} (1 for the best resource's show) per reported contact, xmppctl_login_success,
xmppctl_login_duration_seconds and xmppctl_tls_certificate_expiry_timestamp_seconds per
account; one series per contact, so select the contacts (JIDs, --group) on big rosters.  A
failed account is xmppctl_login_success 0 and the exit code stays non-zero.  Not with
--expect-online."""

probe.__doc__ = (inspect.cleandoc(probe.__doc__ or "") + "\n\n" + PROBE_MONITORING_DOC + "\n\n" + PROBE_FLEET_DOC
                 + "\n\n" + INVISIBLE_DOC)


def _probe_metrics(st, textfile: str | None, expect_online: bool, options: dict) -> None:
    """-o prometheus: each account's contacts as xmppctl_contact_up/_show, with its login metrics."""
    if expect_online:
        from ...errors import UsageError

        raise UsageError("--expect-online judges the probe by its exit code; with metrics use xmppctl_contact_up, "
                         "or `xmppctl check presence` for a monitoring check")
    from ...metrics import add_contacts
    from ...presence import PresenceInbox, probe as do_probe
    from ..metrics_out import measured_session, run_metrics

    async def gather(sub, login):
        inbox = PresenceInbox()
        async with measured_session(sub, login, stanza_hook=inbox.hook) as s:
            snapshot = await do_probe(s, inbox, **options)

        return lambda doc, account: add_contacts(doc, account, snapshot.rows)

    run_metrics(st, textfile, gather)


def _check_online(rows) -> None:
    """--expect-online: exit 10 naming the contacts without an online resource."""
    from ...errors import DriftFound
    from ...presence import not_online

    missing = not_online(rows)
    if missing:
        states = {row.jid: row.state for row in rows}
        listing = ", ".join(f"{jid} ({states[jid]})" for jid in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise DriftFound(f"{len(missing)} expected online, not online: {listing}",
                         details=[{"jid": jid, "state": states[jid]} for jid in missing])


@app.command("watch")
@across_accounts
def watch(
    ctx: typer.Context,
    jid: Annotated[Optional[list[str]], typer.Option("--jid", "-j", metavar="JID", help="Only events from JID (repeatable).", show_default=False)] = None,
    group: GroupOpt = None,
    count: Annotated[Optional[int], typer.Option("--count", "-c", metavar="N", min=1, help="Stop after N events.", show_default=False)] = None,
    until: Annotated[Optional[str], typer.Option("--until", metavar="DURATION", help="Stop after DURATION (30, 30s, 5m, 1h).", show_default=False)] = None,
    priority: PriorityOpt = None,
    invisible: InvisibleOpt = False,
    output: OutputOpt = None,
) -> None:
    """Stay connected and print each presence change and subscription request as it arrives.

    The first events are the contacts' current presences (the server's answers to our initial
    presence), then every change.  Ends after --count events, after --until, or on
    SIGINT/SIGTERM (exit 0).  Table: one line per event; -o ndjson: one JSON object per line,
    flushed at once; -o json: one array when it ends; -o csv: a header, then a row per event.

    Keys: at (ISO time received), jid (bare), resource (or null), kind (presence|subscription),
    type (available|unavailable|error|subscribe|subscribed|unsubscribe|unsubscribed), show
    (chat|away|xa|dnd|available for available, else null), status, priority (integer for
    available, else null), since (XEP-0203 stamp or null), error (condition or null).

    Fleet mode (several -a, a glob, --all-accounts): every account watches at once (--parallel
    must be at least the number of accounts, else exit 2) and their events are one stream,
    each with a leading account key/column.  The header is written once every account is
    logged in or has failed; a failed account is an error row (json/ndjson) or a stderr line
    (table/csv) and the others keep watching.  --count and --until count per account;
    SIGINT/SIGTERM ends every watch.  Exit 0, or 7 when some account failed.
    """
    from ...jid import bare_jids
    from ...presence import READ_ONLY_PRIORITY, check_priority

    st = state(ctx)
    fmt = st.output_format(output)
    prio = check_priority(priority if priority is not None else READ_ONLY_PRIORITY)
    seconds = parse_duration(until, option="--until") if until is not None else None
    filters = bare_jids(list(jid or ()))
    st.resolve_account()
    warn_if_messages_may_arrive(priority)
    _watch(st, fmt, invisible, dict(jids=filters, groups=group or (), priority=prio, count=count, until=seconds))


watch.__doc__ = inspect.cleandoc(watch.__doc__ or "") + "\n\n" + INVISIBLE_DOC


def _watch(st, fmt: str, invisible: bool, options: dict) -> None:
    """Each account of the run watches: one stream of events (with a leading account column
    when there are several accounts).

    All sessions log in first; the header (table, CSV) is written once every account is up or
    has failed, then each sends its initial presence and its events are written as they
    arrive.  A failed account is an error row in the stream (json/ndjson) or a stderr line
    (table/csv) and the others keep watching; --count and --until apply to each account; a
    signal ends every watch.  One account's failure is its error, as for any command.
    """
    from ...fleet.run import error_line, error_row, prefix_columns
    from ...output import WATCH_TABLE, RowWriter
    from ...presence import WATCH_COLUMNS, PresenceInbox, become_invisible, watch as do_watch
    from ..run import conclude, run_together

    names = st.fleet_accounts
    if names is None:
        rows = RowWriter(WATCH_COLUMNS, fmt, sys.stdout, line_table=WATCH_TABLE, live=True)
    else:
        table = WATCH_TABLE.with_account(max(len(n) for n in ("account", *names)))
        rows = RowWriter(prefix_columns(WATCH_COLUMNS), fmt, sys.stdout, line_table=table, live=True)

    def failed(name: str, exc: BaseException) -> None:
        if names is None:
            return  # raised for the edge when the run ends
        if fmt in ("json", "ndjson"):
            rows.row(error_row(name, exc))
        else:
            sys.stderr.write(error_line(name, exc) + "\n")

    def opened(early: dict) -> None:
        if names is None and early:
            return  # the one account failed before the watch was up: its error, no header
        rows.start()  # the header says the watch is up
        for name, exc in early.items():
            failed(name, exc)

    async def job(sub, stop, arrive) -> list:
        inbox = PresenceInbox()
        async with session(sub, stanza_hook=inbox.hook, subscriptions_expected=True) as s:
            if invisible:
                await become_invisible(s)
            await arrive()
            async for event in do_watch(s, inbox, stop, **options):
                rows.row(event.to_dict() if names is None else {"account": sub.account, **event.to_dict()})
        return []

    outcomes = run_together(st, job, opened=opened, failed_late=failed)
    if names is not None or outcomes[0].error is None:  # one account that never got up prints no document
        rows.close()
    conclude(st, outcomes)


# ---- explain: why a contact shows as it does ----------------------------------------------------

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


def _peer_session(st: Any, name: str, account: Any, password: str, hook: Any) -> Any:
    """A session as the contact's account NAME: through the command's session factory where one
    is set (the tests' fake sessions, as for every command), else a login that never uses the
    main account's password sources (environment, stdin)."""
    if st.session_factory is not None:
        return st.session_factory(st.for_account(name), stanza_hook=hook, subscriptions_expected=True)
    return _peer_login(st, account, password, hook)


@asynccontextmanager
async def _peer_login(st: Any, account: Any, password: str, hook: Any):
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


@app.command("explain")
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
            async with _peer_session(st, peer_account, *peer, peer_hooks) as p:
                other = await gather_side(p, peer_hooks, own_jid)
        return ExplainFacts(own=own, probe=probed, peer=other, peer_account=peer_account)

    _render(st, report(run(job)), fmt)


explain.__doc__ = (explain.__doc__ or "").rstrip() + "\n\n" + EXPLAIN_HELP
