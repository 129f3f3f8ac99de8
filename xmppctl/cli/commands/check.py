"""``xmppctl check ...``: monitoring plugins (Nagios, Icinga, Naemon) for a login and for contacts.

These commands speak the monitoring-plugins convention instead of xmppctl's exit codes: one
status line with performance data on stdout and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN,
for every outcome, usage errors included (:class:`CheckGroup`).  The judging is
xmppctl/checks.py, the rendering xmppctl/metrics.py.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from ..context import state
from ..metrics_out import TextfileOpt
from ..selection import across_accounts

if TYPE_CHECKING:
    from ...checks import CheckResult, Range
    from ..context import State

#: what each command checks, as the status line names it
SERVICES = {"login": "LOGIN", "presence": "PRESENCE"}
UNKNOWN_EXIT = 3


def _unknown(service: str | None, message: str) -> None:
    """The status line of a check that could not run (the message may quote remote text)."""
    from ...text import safe_text

    label = f"XMPP {service} UNKNOWN" if service else "XMPP UNKNOWN"
    sys.stdout.write(f"{label} - {safe_text(' '.join(message.split())).replace('|', '/')}\n")


class CheckGroup(TyperGroup):
    """The ``check`` group: whatever goes wrong is UNKNOWN (exit 3) with a status line.

    click exits 2 on a usage error, which a monitoring system reads as CRITICAL: the plugin's
    own misuse would page someone about the service.  Here a usage error, a bad config, a
    missing password, an interruption or a bug is ``XMPP <SERVICE> UNKNOWN - <why>`` on stdout
    and exit 3.  ``--help`` and ``--version`` still exit 0.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except typer.TyperException as exc:
            if not args:  # `xmppctl check`: the help, but still UNKNOWN for a monitoring system
                sys.stdout.write(ctx.get_help() + "\n")
                raise typer.Exit(UNKNOWN_EXIT) from None
            _unknown(None, _click_message(exc))
            raise typer.Exit(UNKNOWN_EXIT) from None

    def invoke(self, ctx: Any) -> Any:
        from ...errors import XmppctlError

        args = [*getattr(ctx, "_protected_args", ()), *getattr(ctx, "protected_args", ()), *ctx.args]
        service = next((SERVICES[a] for a in args if a in SERVICES), None)
        try:
            return super().invoke(ctx)
        except typer.TyperException as exc:
            _unknown(service, _click_message(exc))
        except XmppctlError as exc:
            _unknown(service, exc.message)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: still a plugin answer, never a traceback
            _unknown(service, f"internal error: {type(exc).__name__}: {exc}")
        raise typer.Exit(UNKNOWN_EXIT)


def usage_failure(args: list[str], message: str) -> int:
    """A global option of a check command line refused by the parser: UNKNOWN, exit 3."""
    _unknown(next((SERVICES[a] for a in args if a in SERVICES), None), message)
    return UNKNOWN_EXIT


def _click_message(exc: Any) -> str:
    from ..context import our_wording

    try:
        return our_wording(exc.format_message())
    except Exception:
        return str(exc)


def _version(value: bool) -> None:
    if value:
        from ... import __version__

        typer.echo(f"xmppctl {__version__}")
        raise typer.Exit()


app = typer.Typer(cls=CheckGroup, no_args_is_help=True, help="""Monitoring checks: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

For Nagios, Icinga, Naemon and the like (the monitoring-plugins conventions): one status line
`XMPP <CHECK> <STATE> - <summary> | <perfdata>`, then long output lines; every outcome,
usage errors included, exits 0-3 (never xmppctl's own codes).  Thresholds are ranges: N
alerts above N, N: below N, ~:N above N, N:M outside N..M, @N:M inside.""")


@app.callback()
def _group(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Monitoring checks."""


CheckTimeoutOpt = Annotated[float, typer.Option("--timeout", "-t", metavar="SECONDS", min=0.001, help="Deadline of the whole check; UNKNOWN when it is hit. Each network phase gets at most this too (or the global --timeout if smaller).")]
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail in the long output (repeatable).")]


CheckOutputOpt = Annotated[
    Optional[str],
    typer.Option("--output", "-o", metavar="FORMAT", help="plugin (the status line, default) or prometheus (the same facts as metrics; see --textfile).", show_default=False),
]


def _format(st: State, output: str | None, textfile: str | None) -> str:
    from ...errors import UsageError
    from ..metrics_out import PROMETHEUS, check_textfile

    fmt = (output or ("prometheus" if textfile else "plugin")).lower()
    if fmt not in ("plugin", PROMETHEUS):
        raise UsageError(f"-o/--output {output!r}: not one of plugin, prometheus")
    if textfile is not None:
        if fmt != PROMETHEUS:
            raise UsageError("--textfile writes Prometheus metrics: it does not combine with -o plugin")
        check_textfile(textfile)
    st.output = fmt if fmt == PROMETHEUS else None
    return fmt


def _ranges(warning: str | None, critical: str | None) -> tuple[Range | None, Range | None]:
    from ...checks import parse_range

    return (parse_range(warning, "-w/--warning") if warning is not None else None,
            parse_range(critical, "-c/--critical") if critical is not None else None)


def _limit_timeout(st: State, seconds: float) -> None:
    """Every network phase within -t as well (a smaller global --timeout stays)."""
    st.timeout = seconds if st.timeout is None else min(st.timeout, seconds)


def _run_check(st: State, service: str, seconds: float, measure: Any) -> dict[str, CheckResult]:
    """*measure(account_state)* for the account (or each account of the fleet), each within
    *seconds*; any failure becomes that account's result (xmppctl.checks.failure_result)."""
    import asyncio

    from ...checks import failure_result
    from ...errors import Interrupted, TimeoutFailure, XmppctlError
    from ..metrics_out import run_labelled

    results: dict[str, CheckResult] = {}

    async def one(sub: State, name: str) -> list:
        try:
            results[name] = await asyncio.wait_for(measure(sub), seconds)
        except asyncio.TimeoutError:
            results[name] = failure_result(service, TimeoutFailure(f"no result within {seconds:g} s (-t)"))
        except Interrupted:
            raise
        except XmppctlError as exc:
            results[name] = failure_result(service, exc)
        return []

    outcomes = run_labelled(st, one)
    for outcome in outcomes:
        if outcome.error is not None:  # not an XmppctlError: a bug, reported as UNKNOWN
            results[outcome.account] = failure_result(service, outcome.error)
    return {o.account: results[o.account] for o in outcomes}  # config order, not finishing order


def _finish(st: State, service: str, results: dict[str, CheckResult], fmt: str, textfile: str | None,
            jids: list[str] | None = None) -> None:
    """Print the plugin output (or the metrics) and exit with the state."""
    from ...checks import combine
    from ...metrics import MetricsDocument, add_contacts, add_login, plugin_output
    from ..metrics_out import write_document

    result = next(iter(results.values())) if st.fleet_accounts is None else combine(service, results)
    if fmt == "plugin":
        sys.stdout.write(plugin_output(result))
    else:
        doc = MetricsDocument()
        for name, r in results.items():
            add_login(doc, name, success=bool(r.facts.get("login_success")), seconds=r.facts.get("login_seconds"),
                      not_after=r.facts.get("tls_not_after"))
            if "rows" in r.facts:
                add_contacts(doc, name, r.facts["rows"], jids)
        write_document(doc.text(), textfile)
    raise typer.Exit(int(result.status))


@app.command("login")
@across_accounts
def login(
    ctx: typer.Context,
    warning: Annotated[Optional[str], typer.Option("--warning", "-w", metavar="RANGE", help="WARNING when the login time (seconds) is outside RANGE, e.g. 1 (above 1 s).", show_default=False)] = None,
    critical: Annotated[Optional[str], typer.Option("--critical", "-c", metavar="RANGE", help="CRITICAL when the login time (seconds) is outside RANGE, e.g. 3.", show_default=False)] = None,
    warn_days: Annotated[int, typer.Option("--warn-days", metavar="DAYS", min=0, help="WARNING when the server's certificate is valid for fewer than DAYS days.")] = 14,
    crit_days: Annotated[int, typer.Option("--crit-days", metavar="DAYS", min=0, help="CRITICAL when the server's certificate is valid for fewer than DAYS days (or expired).")] = 7,
    timeout: CheckTimeoutOpt = 10.0,
    verbose: VerboseOpt = 0,
    output: CheckOutputOpt = None,
    textfile: TextfileOpt = None,
) -> None:
    """Check that the account logs in: connect, TLS, SASL, bind, close; nothing else is sent.

    OK: `XMPP LOGIN OK - alice@example.org in 0.21 s, TLSv1.3, SCRAM-SHA-256, certificate valid
    87 days | time=0.213s;1;3;0 cert_days=87;14:;7:;0`.  The certificate is the one the server
    presented, verified against the JID's domain (with --insecure it is not verified and not
    judged).  CRITICAL: the login failed (connection refused, TLS handshake or certificate
    refused, authentication failed, stream error), the certificate has fewer than --crit-days
    days left, or the time is outside -c.  WARNING: fewer than --warn-days days, or the time
    outside -w.  UNKNOWN: -t (or a phase's --timeout) hit, a usage or config error, no password.

    Fleet mode (several -a, a glob, --all-accounts): one status line for all accounts, the
    worst state (CRITICAL, then UNKNOWN, then WARNING), one long-output line per account and
    each account's perfdata labelled 'ACCOUNT/time'.

    -o prometheus (or --textfile PATH): xmppctl_login_success, xmppctl_login_duration_seconds
    and xmppctl_tls_certificate_expiry_timestamp_seconds per account; the exit code is still
    the check's state.
    """
    from ...checks import login_result

    st = state(ctx)
    fmt = _format(st, output, textfile)
    warn, crit = _ranges(warning, critical)
    _limit_timeout(st, timeout)
    st.resolve_account()

    async def measure(sub: State) -> CheckResult:
        import time

        from ..metrics_out import Login, measured_session

        timed = Login()
        async with measured_session(sub, timed):
            pass
        return login_result(sub.resolve_account().jid, timed.seconds or 0.0, timed.facts, time.time(),
                            warning=warn, critical=crit, warn_days=warn_days, crit_days=crit_days, verbose=verbose)

    _finish(st, "LOGIN", _run_check(st, "LOGIN", timeout, measure), fmt, textfile)


@app.command("presence")
@across_accounts
def presence(
    ctx: typer.Context,
    jids: Annotated[list[str], typer.Argument(metavar="JID...", help="Contacts that should be online (bare JIDs).", show_default=False)],
    warn_away: Annotated[bool, typer.Option("--warn-away", help="WARNING when a contact's best resource is away, xa or dnd.")] = False,
    warning: Annotated[Optional[str], typer.Option("--warning", "-w", metavar="RANGE", help="WARNING when the number of online contacts is outside RANGE, e.g. 3: (fewer than 3).", show_default=False)] = None,
    critical: Annotated[Optional[str], typer.Option("--critical", "-c", metavar="RANGE", help="CRITICAL when the number of online contacts is outside RANGE, e.g. 1: (none); replaces 'any contact offline is CRITICAL'.", show_default=False)] = None,
    timeout: CheckTimeoutOpt = 10.0,
    verbose: VerboseOpt = 0,
    output: CheckOutputOpt = None,
    textfile: TextfileOpt = None,
) -> None:
    """Check that contacts (bots, gateways, on-call accounts) are online.

    Reads only, by the rules of `presence probe`: our presence has priority -1 (stored
    messages stay stored for your clients), subscription requests are never answered, and the
    check ends as soon as every named contact has answered.  The contacts must be in the
    roster with a subscription to/both, or we cannot see them.

    `XMPP PRESENCE CRITICAL - 1 of 3 offline: bot@example.org | online=2;;;0;3 time=0.35s;;;0`,
    then one line per contact.  CRITICAL: a named contact is offline or answered with an error
    (with -c: the online count is outside -c instead).  WARNING: the online count is outside
    -w, or (--warn-away) a contact is away/xa/dnd.  UNKNOWN: a contact we cannot see (no
    subscription, not in the roster, no answer before the deadline), our own login failed
    (authentication, connection, TLS), -t hit, usage errors.

    Fleet mode (several -a, a glob, --all-accounts): every account checks the same JIDs; one
    status line with the worst state and one long-output line per account.

    -o prometheus (or --textfile PATH): xmppctl_contact_up and xmppctl_contact_show for each
    named contact, with the login metrics; the exit code is still the check's state.
    """
    from ...checks import presence_result
    from ...jid import bare_jids

    st = state(ctx)
    fmt = _format(st, output, textfile)
    warn, crit = _ranges(warning, critical)
    wanted = list(dict.fromkeys(bare_jids(jids)))
    _limit_timeout(st, timeout)
    st.resolve_account()

    async def measure(sub: State) -> CheckResult:
        import time

        from ...presence import READ_ONLY_PRIORITY, PresenceInbox, probe
        from ..metrics_out import Login, measured_session

        timed, inbox = Login(), PresenceInbox()
        start = time.monotonic()
        async with measured_session(sub, timed, stanza_hook=inbox.hook) as s:
            snapshot = await probe(s, inbox, jids=wanted, priority=READ_ONLY_PRIORITY)
        return presence_result(snapshot.rows, wanted, time.monotonic() - start, warn_away=warn_away,
                               warning=warn, critical=crit, verbose=verbose,
                               facts={"login_seconds": timed.seconds, "tls_not_after": timed.facts.get("tls_not_after")})

    _finish(st, "PRESENCE", _run_check(st, "PRESENCE", timeout, measure), fmt, textfile, wanted)
