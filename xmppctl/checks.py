"""Monitoring checks (``xmppctl check ...``): thresholds and states, judged purely.

The monitoring-plugins conventions (Nagios, Icinga, Naemon, Shinken): four states with exit
codes 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; thresholds as ranges (:func:`parse_range`);
one status line with performance data (rendered by xmppctl/metrics.py).  Nothing here opens a
session or prints: the CLI gathers the facts (login time, certificate, probe rows) and these
functions turn them into a :class:`CheckResult`.

Which failure is which state (the guidelines keep UNKNOWN for "could not check" and the
plugin's own failures, and want a failure of the checked service to be CRITICAL):

- ``check login`` checks the login itself: a refused connection, a failed TLS handshake or an
  untrusted certificate, a rejected password, a stream error are the service failing:
  CRITICAL.
- ``check presence`` checks contacts: when our own login fails we cannot see them: UNKNOWN.
- Both: ``-t`` hit (a phase or the whole check), bad usage or config, no password, an
  interruption: UNKNOWN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .errors import AuthError, ConnectionFailure, TimeoutFailure, UsageError


class Status(IntEnum):
    """A check's state; the value is the plugin's exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


#: how bad a state is when states are combined (fleet mode, several contacts): a CRITICAL is
#: worse than not knowing, not knowing is worse than a WARNING
SEVERITY = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe of *statuses* (OK for none)."""
    return max(statuses, key=SEVERITY.__getitem__, default=Status.OK)


# ---- threshold ranges -------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """A monitoring-plugins threshold range: alert when the value is outside start..end
    (inside with ``@``); None is an open end (``~`` or nothing)."""

    text: str
    start: float | None = 0.0
    end: float | None = None
    inside: bool = False

    def alerts(self, value: float) -> bool:
        within = (self.start is None or value >= self.start) and (self.end is None or value <= self.end)
        return within if self.inside else not within


def _number(text: str, option: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UsageError(f"{option} {whole!r}: not a threshold range ({RANGE_HELP})")
    return value


#: the range syntax, for messages and --help
RANGE_HELP = "N alerts above N (or below 0), N: below N, ~:N above N, N:M outside N..M, @N:M inside N..M"


def parse_range(text: str, option: str) -> Range:
    """Parse a threshold range (monitoring-plugins guidelines, "Threshold and ranges").

    ``10`` alerts outside 0..10, ``10:`` below 10, ``~:10`` above 10, ``10:20`` outside
    10..20, ``@10:20`` inside 10..20.  Anything else: UsageError naming *option*.
    """
    raw = text.strip()
    body = raw[1:] if raw.startswith("@") else raw
    if not body:
        raise UsageError(f"{option} {text!r}: empty threshold range ({RANGE_HELP})")
    if ":" in body:
        lo, _, hi = body.partition(":")
        start = None if lo == "~" else _number(lo, option, text) if lo else 0.0
        end = _number(hi, option, text) if hi else None
    else:
        start, end = 0.0, _number(body, option, text)
    if start is not None and end is not None and start > end:
        raise UsageError(f"{option} {text!r}: the start of a range must not exceed its end")
    return Range(raw, start, end, raw.startswith("@"))


def judge(value: float, warning: Range | None, critical: Range | None) -> Status:
    """CRITICAL when *critical* alerts for *value*, else WARNING when *warning* does, else OK."""
    if critical is not None and critical.alerts(value):
        return Status.CRITICAL
    if warning is not None and warning.alerts(value):
        return Status.WARNING
    return Status.OK


# ---- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerfDatum:
    """One performance value: ``'label'=value[uom];[warn];[crit];[min];[max]``."""

    label: str
    value: float
    uom: str = ""
    warn: str | None = None
    crit: str | None = None
    min: float | None = None
    max: float | None = None


@dataclass
class CheckResult:
    """What a check found: its state, a one-line summary, performance data and detail lines.

    *facts* carries what the metrics output needs (login duration, certificate expiry, probe
    rows): the same check renders as a plugin line or as Prometheus metrics.
    """

    service: str  #: LOGIN | PRESENCE
    status: Status
    summary: str
    perfdata: list[PerfDatum] = field(default_factory=list)
    long: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def failure_result(service: str, exc: BaseException) -> CheckResult:
    """The result of a check that could not finish (see the module docstring for the states)."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, (TimeoutFailure, UsageError)):
        status = Status.UNKNOWN
    elif service == "LOGIN" and isinstance(exc, (AuthError, ConnectionFailure)):
        status = Status.CRITICAL
    else:
        status = Status.UNKNOWN
    return CheckResult(service, status, message, facts={"login_success": False})


# ---- check login ----------------------------------------------------------------------------

#: certificate-days defaults (--warn-days/--crit-days), as check_xmppng and check_http use them
WARN_DAYS, CRIT_DAYS = 14, 7


def login_result(jid: str, seconds: float, facts: Mapping[str, Any], now: float, *,
                 warning: Range | None = None, critical: Range | None = None,
                 warn_days: int = WARN_DAYS, crit_days: int = CRIT_DAYS, verbose: int = 0) -> CheckResult:
    """Judge a successful login: its duration against -w/-c, the certificate's days left
    against --warn-days/--crit-days (days below them alert).  *facts*: Session.login_facts()."""
    time_status = judge(seconds, warning, critical)
    problems: list[str] = []
    if time_status is not Status.OK:
        limit = critical if time_status is Status.CRITICAL else warning
        problems.append(f"login took {seconds:.2f} s (threshold {limit.text})")  # type: ignore[union-attr]
    perf = [PerfDatum("time", round(seconds, 3), "s", warning.text if warning else None,
                      critical.text if critical else None, 0)]
    parts = [f"{jid} in {seconds:.2f} s"] + [facts[k] for k in ("tls_version", "sasl_mechanism") if facts.get(k)]
    not_after = facts.get("tls_not_after")
    cert_status = Status.OK
    if not_after is None:
        parts.append("certificate not verified")
    else:
        days = math.floor((not_after - now) / 86400)
        if not_after <= now:
            cert_status = Status.CRITICAL
            problems.append("certificate expired")
        elif days < crit_days:
            cert_status = Status.CRITICAL
            problems.append(f"certificate valid {days} days (below {crit_days})")
        elif days < warn_days:
            cert_status = Status.WARNING
            problems.append(f"certificate valid {days} days (below {warn_days})")
        parts.append(f"certificate valid {days} days")
        perf.append(PerfDatum("cert_days", days, "", f"{warn_days}:", f"{crit_days}:", 0))
    status = worst((time_status, cert_status))
    summary = ", ".join(parts)
    if problems:
        summary = "; ".join(problems) + ": " + summary
    long: list[str] = []
    if verbose:
        where = f"{facts.get('address')}:{facts.get('port')}" if facts.get("address") else "?"
        long.append(f"connected to {where}, cipher {facts.get('tls_cipher') or '?'}")
    return CheckResult("LOGIN", status, summary, perf, long,
                       facts={"login_success": True, "login_seconds": seconds, "tls_not_after": not_after})


# ---- check presence -------------------------------------------------------------------------

#: probe states in which we cannot tell whether the contact is online: UNKNOWN
UNSEEN_STATES = ("no-subscription", "not-in-roster", "timeout")
#: shows that make an online contact a WARNING with --warn-away
AWAY_SHOWS = ("away", "xa", "dnd")


@dataclass(frozen=True)
class ContactState:
    """One watched contact, judged: its probe state, best show and status (None unless online)."""

    jid: str
    state: str
    show: str | None
    status_text: str | None
    verdict: Status
    resources: int = 0


def contact_states(rows: Sequence[Any], jids: Sequence[str], *, warn_away: bool = False,
                   offline_is_critical: bool = True) -> list[ContactState]:
    """Each of *jids* judged from the probe's *rows* (PresenceRow; online rows come highest
    priority first, so a contact's first online row is its best resource)."""
    by_jid: dict[str, list[Any]] = {}
    for row in rows:
        by_jid.setdefault(row.jid, []).append(row)
    out = []
    for jid in jids:
        found = by_jid.get(jid, [])
        online = [r for r in found if r.state == "online"]
        if online:
            best = online[0]
            verdict = Status.WARNING if warn_away and best.show in AWAY_SHOWS else Status.OK
            out.append(ContactState(jid, "online", best.show, best.status, verdict, len(online)))
            continue
        state = found[0].state if found else "timeout"
        if state in UNSEEN_STATES:
            verdict = Status.UNKNOWN
        else:  # offline, or a presence error (unavailable for us)
            verdict = Status.CRITICAL if offline_is_critical else Status.OK
        text = found[0].error if found and state == "error" else (found[0].status if found else None)
        out.append(ContactState(jid, state, None, text, verdict))
    return out


def _listing(jids: Sequence[str], limit: int = 5) -> str:
    return ", ".join(jids[:limit]) + (f" and {len(jids) - limit} more" if len(jids) > limit else "")


def presence_result(rows: Sequence[Any], jids: Sequence[str], seconds: float, *, warn_away: bool = False,
                    warning: Range | None = None, critical: Range | None = None, verbose: int = 0,
                    facts: Mapping[str, Any] | None = None) -> CheckResult:
    """Judge a probe of the watched *jids*.

    Without -c, a watched contact that is offline (or answered with a presence error) is
    CRITICAL; with -c the number online decides CRITICAL instead (``-c 1:``: none online), and
    -w gives WARNING on the same count (``-w 3:``: fewer than 3).  --warn-away makes an online
    contact whose best resource is away/xa/dnd a WARNING.  A contact we cannot see (no
    subscription, not in the roster, no answer before the deadline) is UNKNOWN.
    """
    contacts = contact_states(rows, jids, warn_away=warn_away, offline_is_critical=critical is None)
    online = [c for c in contacts if c.state == "online"]
    count_status = judge(len(online), warning, critical)
    status = worst([count_status, *(c.verdict for c in contacts)])
    total = len(contacts)
    down = [c.jid for c in contacts if c.state in ("offline", "error")]
    unseen = [c.jid for c in contacts if c.state in UNSEEN_STATES]
    away = [f"{c.jid} ({c.show})" for c in contacts if c.verdict is Status.WARNING]
    parts = []
    if down:
        parts.append(f"{len(down)} of {total} offline: {_listing(down)}")
    if unseen:
        states = {c.jid: c.state for c in contacts}
        parts.append(f"{len(unseen)} unknown: " + _listing([f"{j} ({states[j]})" for j in unseen]))
    if away:
        parts.append(f"{len(away)} of {total} away: {_listing(away)}")
    if count_status is not Status.OK:
        limit = critical if count_status is Status.CRITICAL else warning
        parts.append(f"{len(online)} online (threshold {limit.text})")  # type: ignore[union-attr]
    if not parts:
        parts.append(f"{len(online)} of {total} online" if total != 1 else f"{jids[0]} online")
    perf = [PerfDatum("online", len(online), "", warning.text if warning else None,
                      critical.text if critical else None, 0, total),
            PerfDatum("time", round(seconds, 3), "s", None, None, 0)]
    long = []
    for c in contacts:
        line = f"{c.verdict.name}: {c.jid} {c.state}"
        if c.state == "online":
            line += f" ({c.show or 'available'}" + (f", {c.resources} resources" if verbose and c.resources > 1 else "") + ")"
        if c.status_text and (verbose or c.state != "online"):
            line += f": {c.status_text}"
        long.append(line)
    return CheckResult("PRESENCE", status, "; ".join(parts), perf, long,
                       facts={**(facts or {}), "login_success": True, "rows": list(rows)})


# ---- fleet: many accounts, one result ----------------------------------------------------------


def combine(service: str, results: Mapping[str, CheckResult]) -> CheckResult:
    """One result for many accounts: the worst state, one long-output line per account, each
    account's performance data with its name in the label (``'work/time'``)."""
    status = worst(r.status for r in results.values())
    counts: dict[Status, list[str]] = {}
    for name, result in results.items():
        counts.setdefault(result.status, []).append(name)
    parts = []
    for st in sorted(counts, key=SEVERITY.__getitem__, reverse=True):
        names = counts[st]
        parts.append(f"{len(names)} {st.name}" + (f" ({_listing(names)})" if st is not Status.OK else ""))
    summary = f"{len(results)} account{'s' if len(results) != 1 else ''}: " + ", ".join(parts)
    perf = [PerfDatum(f"{name}/{p.label}", p.value, p.uom, p.warn, p.crit, p.min, p.max)
            for name, result in results.items() for p in result.perfdata]
    long = [f"{name}: {r.status.name} - {r.summary}" for name, r in results.items()]
    return CheckResult(service, status, summary, perf, long)
