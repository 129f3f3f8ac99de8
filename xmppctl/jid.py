"""Parse, validate and normalise JIDs without importing slixmpp.

Two JIDs are the same contact when the server says so, so the localpart and domain are
normalised the way Prosody and ejabberd do it: stringprep (RFC 3454) with the nodeprep profile
for the localpart (RFC 6122 appendix A: B.1 mapped to nothing, B.2 case folding, NFKC,
prohibited output, bidi rules) and nameprep (RFC 3491) for each domain label.  Without it a
file naming ``b\u200bob@example.org`` (zero-width space) or ``\uff43arol@example.org``
(fullwidth c) looked like a new contact to ``import --prune``, which removed bob and carol and
added them back bare: the server maps both to the plain name.
"""

from __future__ import annotations

import re
import stringprep
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


#: stringprep tables that nodeprep prohibits in its output (RFC 6122 A.5)
_NODEPREP_PROHIBITED = (stringprep.in_table_c11, stringprep.in_table_c12, stringprep.in_table_c21,
                        stringprep.in_table_c22, stringprep.in_table_c3, stringprep.in_table_c4,
                        stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7,
                        stringprep.in_table_c8, stringprep.in_table_c9)
#: label separators IDNA accepts besides "." (RFC 3490 3.1)
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def _bidi_ok(s: str) -> bool:
    """RFC 3454 6: no RandALCat with LCat; a RandALCat string starts and ends with one."""
    if not any(stringprep.in_table_d1(c) for c in s):
        return True
    return not any(stringprep.in_table_d2(c) for c in s) and stringprep.in_table_d1(s[0]) and stringprep.in_table_d1(s[-1])


def nodeprep(local: str) -> str:
    """The localpart as the servers store and compare it; ValueError names what is wrong."""
    mapped = "".join(stringprep.map_table_b2(c) for c in local if not stringprep.in_table_b1(c))
    out = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    for c in out:
        if c in _LOCAL_FORBIDDEN or any(table(c) for table in _NODEPREP_PROHIBITED):
            raise ValueError(f"localpart contains a forbidden character (U+{ord(c):04X})")
    if not _bidi_ok(out):
        raise ValueError("localpart mixes right-to-left and left-to-right text")
    return out


def nameprep_domain(domain: str) -> str:
    """The domain as the servers compare it: nameprep (RFC 3491) label by label."""
    from encodings.idna import nameprep

    try:
        return ".".join(nameprep(label) if label else label for label in domain.translate(_DOTS).split("."))
    except UnicodeError as exc:
        raise ValueError(f"domain is not a valid host name ({exc})") from None


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
        if _has_bad_chars(local):  # controls, spaces, surrogates: refused (not mapped away)
            raise _bad(value, "localpart contains a forbidden character")
        try:
            local = nodeprep(local)
        except ValueError as exc:
            raise _bad(value, str(exc)) from None
        if not local:
            raise _bad(value, "empty localpart (after removing invisible characters)")
        if _utf8_len(local) > 1023:
            raise _bad(value, "localpart longer than 1023 bytes")
    if not _IPV6.match(domain):
        try:
            domain = nameprep_domain(domain)
        except ValueError as exc:
            raise _bad(value, str(exc)) from None
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
