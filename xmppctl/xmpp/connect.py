"""How a session finds its server: the targets to try, in order, and one line saying what was tried.

RFC 6120 §3.2.1: look up the SRV records of the JID's domain and try the targets in priority and
weight order (RFC 2782), every address of each, until one accepts the connection; fall back to
the domain's own addresses only when there is no SRV record at all; a single target of "."
means the service is decidedly not available.  XEP-0368: ``_xmpps-client`` records (direct TLS)
are merged with ``_xmpp-client`` ones (STARTTLS) by priority and weight; at equal priority the
preferred mode (direct TLS unless ``tls = "starttls"`` was chosen) goes first.  RFC 8305: the
addresses of a target are tried IPv6 and IPv4 interleaved, IPv6 first, each with a short connect
timeout while others remain.

``--server`` (with or without ``--port``) and ``--port`` alone mean exactly that host (or the
JID's domain) on exactly that port: no SRV lookup.

Everything here but the two lookups is pure; no slixmpp here (the session connects), and aiodns
(a slixmpp dependency, c-ares underneath) is imported only when a lookup runs.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConnectionFailure

if TYPE_CHECKING:
    from ..config import Account

STARTTLS_SERVICE = "xmpp-client"
DIRECT_TLS_SERVICE = "xmpps-client"
STARTTLS_PORT, DIRECT_TLS_PORT = 5222, 5223
#: connect timeout of one address while other addresses remain to be tried (RFC 8305 races
#: attempts 250 ms apart; one stream at a time here, so each gets a little longer)
ADDRESS_TIMEOUT = 2.0
#: c-ares' timeout for one DNS query (it retries once); the whole login's deadline bounds both
DNS_QUERY_TIMEOUT = 1.5

#: how a target was found, as ``account test`` reports it
FOUND_SRV = "SRV"                # an _xmpp-client record (STARTTLS)
FOUND_XEP0368 = "XEP-0368"       # an _xmpps-client record (direct TLS)
FOUND_FALLBACK = "fallback"      # no SRV record: the JID's domain on the default port
FOUND_SERVER = "--server"        # server / port configured: exactly that
FOUND_PORT = "--port"            # port alone: the JID's domain on that port


@dataclass(frozen=True)
class SrvRecord:
    service: str  # STARTTLS_SERVICE or DIRECT_TLS_SERVICE
    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True)
class Target:
    """One host and port to connect to, with the TLS mode it speaks and how it was found."""

    host: str
    port: int
    direct_tls: bool
    found: str

    @property
    def tls(self) -> str:
        return "direct" if self.direct_tls else "starttls"


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def attempt_label(target: Target, address: str | None) -> str:
    """``xmpp1.example.org:5222 [2001:db8::1]``; just ``192.0.2.1:5222`` for an address target."""
    host = target.host.strip("[]")
    where = f"[{host}]:{target.port}" if ":" in host else f"{host}:{target.port}"
    if address is None or address == host:
        return where
    return f"{where} [{address}]" if ":" in address else f"{where} {address}"


def fixed_targets(account: Account) -> list[Target] | None:
    """The one target that --server/--port name, or None when the server is to be found by DNS."""
    direct = account.tls == "direct"
    port = account.port or (DIRECT_TLS_PORT if direct else STARTTLS_PORT)
    if account.server:
        return [Target(account.server, port, direct, FOUND_SERVER)]
    if account.port:
        return [Target(account.jid.partition("@")[2], port, direct, FOUND_PORT)]
    return None


def prefers_direct_tls(account: Account) -> bool:
    """XEP-0368: direct TLS first at equal priority, unless STARTTLS was chosen explicitly."""
    return not (account.tls == "starttls" and account.tls_chosen)


def fallback_target(domain: str, account: Account) -> Target:
    """RFC 6120 §3.2.2 (no SRV record): the domain itself, on 5222 (5223 with --tls direct)."""
    direct = account.tls == "direct"
    return Target(domain, DIRECT_TLS_PORT if direct else STARTTLS_PORT, direct, FOUND_FALLBACK)


def order_srv(records: Sequence[SrvRecord], *, prefer_direct: bool, rng: random.Random | None = None) -> list[Target]:
    """SRV records of both kinds as targets in the order to try them.

    Lowest priority first; within a priority the preferred TLS mode first, and within each mode
    RFC 2782's weighted random order (a weight-0 record seldom comes first, but is tried). Records whose
    target is "." are left out (that service is not available).
    """
    rng = rng or random.Random()
    usable = [r for r in records if r.target.rstrip(".")]
    ordered: list[Target] = []
    for priority in sorted({r.priority for r in usable}):
        same = [r for r in usable if r.priority == priority]
        for direct in ((True, False) if prefer_direct else (False, True)):
            group = [r for r in same if (r.service == DIRECT_TLS_SERVICE) == direct]
            for r in _weighted_order(group, rng):
                found = FOUND_XEP0368 if direct else FOUND_SRV
                ordered.append(Target(r.target.rstrip("."), r.port, direct, found))
    return _without_repeats(ordered)


def _weighted_order(group: list[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """RFC 2782: pick each next record with probability proportional to its weight."""
    left = sorted(group, key=lambda r: r.weight)  # weight-0 records first, as the RFC says
    out: list[SrvRecord] = []
    while left:
        total = sum(r.weight for r in left)
        pick = rng.randint(0, total)
        running = 0
        for r in left:
            running += r.weight
            if running >= pick:
                out.append(r)
                left.remove(r)
                break
    return out


def _without_repeats(targets: list[Target]) -> list[Target]:
    seen: set[tuple[str, int, bool]] = set()
    out = []
    for t in targets:
        key = (t.host.lower(), t.port, t.direct_tls)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def srv_targets(domain: str, records: Sequence[SrvRecord], account: Account, *,
                rng: random.Random | None = None) -> list[Target]:
    """The targets for *records* (both kinds), or the fallback when there are none.

    Raises ConnectionFailure when every record says "." (RFC 2782: decidedly not available).
    """
    if not records:
        return [fallback_target(domain, account)]
    targets = order_srv(records, prefer_direct=prefers_direct_tls(account), rng=rng)
    if not targets:
        raise ConnectionFailure(f'{domain}: XMPP service not available (its SRV records name the target ".")')
    return targets


def interleave(addresses: Sequence[str]) -> list[str]:
    """RFC 8305 §4: IPv6 and IPv4 alternating, IPv6 first, each family in its given order."""
    v6 = [a for a in addresses if ":" in a]
    v4 = [a for a in addresses if ":" not in a]
    out: list[str] = []
    for i in range(max(len(v6), len(v4))):
        out += v6[i:i + 1] + v4[i:i + 1]
    return list(dict.fromkeys(out))


@dataclass
class Tried:
    """The attempts of one login, for the error that ends it."""

    domain: str
    attempts: list[str] = field(default_factory=list)
    #: what went wrong before any attempt, e.g. a failed SRV lookup
    notes: list[str] = field(default_factory=list)

    def add(self, target: Target, address: str | None, outcome: str) -> None:
        self.attempts.append(f"{attempt_label(target, address)} ({outcome})")

    def failure(self, last: str | None = None) -> ConnectionFailure:
        """``example.org: tried a:5222 [::1] (refused), a:5222 192.0.2.1 (timed out)``."""
        parts = [*self.notes, f"tried {', '.join(self.attempts)}" if self.attempts else "nothing to try"]
        return ConnectionFailure(f"{self.domain}: {'; '.join(parts)}" + (f"; {last}" if last else ""),
                                 details={"tried": list(self.attempts)})


def connect_outcome(err: Any) -> str:
    """A failed attempt in a word or two: refused, timed out, unreachable, TLS failed: ..."""
    import ssl

    if isinstance(err, ssl.SSLError):
        return f"TLS handshake failed: {getattr(err, 'reason', None) or err}"
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, OSError):
        return (err.strerror or str(err) or type(err).__name__).lower()
    return str(err)


class Resolver:
    """SRV and address lookups: c-ares (aiodns) for what DNS publishes, cancellable and bounded
    by the caller; the system resolver (/etc/hosts, nsswitch) for a host named by --server."""

    def __init__(self) -> None:
        self._channel: Any = None

    @property
    def _dns(self) -> Any:
        if self._channel is None:
            import aiodns

            self._channel = aiodns.DNSResolver(timeout=DNS_QUERY_TIMEOUT, tries=2)
        return self._channel

    async def srv(self, domain: str) -> tuple[list[SrvRecord], list[str]]:
        """Both kinds of records, and the lookups that failed (other than "no such record")."""
        import asyncio

        services = (STARTTLS_SERVICE, DIRECT_TLS_SERVICE)
        answers = await asyncio.gather(*(self._dns.query_dns(f"_{s}._tcp.{domain}", "SRV") for s in services),
                                       return_exceptions=True)
        records: list[SrvRecord] = []
        problems: list[str] = []
        for service, answer in zip(services, answers):
            if isinstance(answer, BaseException):
                if not _no_such_record(answer):
                    problems.append(f"SRV lookup of _{service}._tcp.{domain} failed ({_dns_reason(answer)})")
                continue
            for rr in answer.answer:
                data = rr.data
                if hasattr(data, "priority") and hasattr(data, "target"):
                    records.append(SrvRecord(service, data.priority, data.weight, data.port, data.target))
        return records, problems

    async def addresses(self, target: Target) -> list[str]:
        """The IPv6 and IPv4 addresses of *target* in RFC 8305 order; OSError with the reason when none."""
        import asyncio

        host = target.host.strip("[]")
        if is_address(host):
            return [host]
        found: list[str] = []
        reasons: list[str] = []
        if target.found in (FOUND_SERVER, FOUND_PORT):
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
                found = [str(info[4][0]) for info in infos]
            except socket.gaierror as exc:
                reasons.append((exc.strerror or str(exc)).lower())
        else:
            families = (socket.AF_INET6, socket.AF_INET)
            answers = await asyncio.gather(*(self._dns.getaddrinfo(host, family) for family in families),
                                           return_exceptions=True)
            for answer in answers:
                if isinstance(answer, BaseException):
                    reasons.append(_dns_reason(answer))
                    continue
                found += [node.addr[0].decode() for node in answer.nodes]
        if not found:
            raise OSError(f"no address: {', '.join(dict.fromkeys(reasons)) or 'no A/AAAA record'}")
        return interleave(found)

    async def close(self) -> None:
        if self._channel is None:
            return
        try:
            await self._channel.close()
        except Exception:  # closing a resolver is best effort
            pass


def _no_such_record(exc: BaseException) -> bool:
    from aiodns import error

    return bool(exc.args) and exc.args[0] in (error.ARES_ENOTFOUND, error.ARES_ENODATA, error.ARES_ENONAME)


def _dns_reason(exc: BaseException) -> str:
    from aiodns import error

    code = exc.args[0] if exc.args else None
    names = {error.ARES_ENOTFOUND: "no such name", error.ARES_ENODATA: "no record",
             error.ARES_ETIMEOUT: "DNS timed out", error.ARES_ESERVFAIL: "DNS server failure",
             error.ARES_ECONNREFUSED: "DNS server unreachable", error.ARES_EREFUSED: "DNS query refused"}
    return names.get(code, str(exc.args[1]) if len(exc.args) > 1 else str(exc))
