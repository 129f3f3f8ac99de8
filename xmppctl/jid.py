"""Parse, validate and normalise JIDs (RFC 7622) without importing slixmpp."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .errors import UsageError

# RFC 7622 §3.3.1: these may not appear in a localpart.
_LOCAL_FORBIDDEN = set('"&\'/:<>@')
_DOMAIN_LABEL = re.compile(r"^(?!-)[^\s./@:]{1,63}(?<!-)$")
_IPV6 = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")


@dataclass(frozen=True, slots=True)
class JID:
    local: str
    domain: str
    resource: str = ""

    @property
    def bare(self) -> str:
        return f"{self.local}@{self.domain}" if self.local else self.domain

    @property
    def full(self) -> str:
        return f"{self.bare}/{self.resource}" if self.resource else self.bare

    def __str__(self) -> str:
        return self.full


def _bad(value: str, why: str) -> UsageError:
    return UsageError(f"invalid JID {value!r}: {why}")


def _utf8_len(s: str) -> int:
    # surrogatepass: an undecodable argv byte (a lone surrogate) must reach the character
    # check below and be refused there, not crash the length check
    return len(s.encode("utf-8", "surrogatepass"))


def _has_bad_chars(s: str) -> bool:
    for ch in s:
        cat = unicodedata.category(ch)
        if ch.isspace() or cat in ("Cc", "Cs", "Co", "Cn"):
            return True
    return False


def parse_jid(value: str, *, allow_resource: bool = True, require_local: bool = False) -> JID:
    """Parse *value* into a normalised JID, raising UsageError (exit 2) when it is invalid."""
    if not isinstance(value, str) or not value:
        raise _bad(str(value), "empty")
    text = unicodedata.normalize("NFC", value)
    rest, sep, resource = text.partition("/")
    if sep and not resource:
        raise _bad(value, "empty resource")
    if "@" in rest:
        local, _, domain = rest.rpartition("@")
        if not local:
            raise _bad(value, "empty localpart")
    else:
        local, domain = "", rest
    if require_local and not local:
        raise _bad(value, "expected user@domain")
    if resource and not allow_resource:
        raise _bad(value, "a bare JID (without /resource) is expected here")
    if local:
        if _utf8_len(local) > 1023:
            raise _bad(value, "localpart longer than 1023 bytes")
        if any(c in _LOCAL_FORBIDDEN for c in local) or _has_bad_chars(local):
            raise _bad(value, "localpart contains a forbidden character")
        local = local.casefold()
    domain = domain.rstrip(".")
    if not domain:
        raise _bad(value, "empty domain")
    if _utf8_len(domain) > 1023:
        raise _bad(value, "domain longer than 1023 bytes")
    if not _IPV6.match(domain):
        labels = domain.split(".")
        if any(not _DOMAIN_LABEL.match(label) for label in labels) or _has_bad_chars(domain):
            raise _bad(value, "domain is not a valid host name")
        domain = domain.lower()
    if resource:
        if _utf8_len(resource) > 1023:
            raise _bad(value, "resource longer than 1023 bytes")
        if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in resource):
            raise _bad(value, "resource contains a control character")
    return JID(local, domain, resource)


def bare_jid(value: str) -> str:
    """Validate a contact address and return it as a normalised bare JID string."""
    return parse_jid(value, allow_resource=False).bare


def bare_jids(values: list[str]) -> list[str]:
    """Validate every value (all before any is used), normalise, drop duplicates keeping order."""
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(bare_jid(value), None)
    return list(seen)
