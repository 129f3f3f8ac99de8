"""What presence is (RFC 6121 §4): validation of what we send, parsing of what arrives.  Pure."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import UsageError
from ..jid import parse_jid
from ..xmpp.ns import CAPS_NS, CLIENT_NS, DELAY_NS, IDLE_NS

PRESENCE_TAG = f"{{{CLIENT_NS}}}presence"

SHOWS = ("chat", "away", "xa", "dnd")
#: what ``--show`` accepts: the four RFC values plus "available" (no <show/> element)
SHOW_CHOICES = ("chat", "away", "xa", "dnd", "available")
PRIORITY_MIN, PRIORITY_MAX = -128, 127
#: the read-only commands' default: a negative priority keeps offline messages for real clients
READ_ONLY_PRIORITY = -1
SUBSCRIPTION_TYPES = ("subscribe", "subscribed", "unsubscribe", "unsubscribed")


def parse_show(value: str | None) -> str | None:
    """The <show/> value for *value*; None for "available"/absent.  Anything else is exit 2."""
    if value is None:
        return None
    norm = value.strip().lower()
    if norm not in SHOW_CHOICES:
        raise UsageError(f"invalid show {value!r}: expected one of {', '.join(SHOW_CHOICES)}")
    return None if norm == "available" else norm


def check_priority(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise UsageError(f"invalid priority {value!r}: expected an integer from {PRIORITY_MIN} to {PRIORITY_MAX}")
    return value


@dataclass(frozen=True, slots=True)
class PresenceInfo:
    """One incoming presence stanza, parsed."""

    jid: str  #: bare JID of the sender
    resource: str
    type: str  #: available | unavailable | subscribe... | error | probe
    show: str | None = None  #: chat|away|xa|dnd; None when absent
    status: str | None = None
    priority: int = 0
    since: str | None = None  #: XEP-0203 delay stamp
    error: str | None = None  #: error condition for type=error
    error_text: str | None = None
    caps_node: str | None = None  #: XEP-0115 entity capabilities: the client's node ...
    caps_ver: str | None = None  #: ... and the verification string (node#ver names its disco#info)
    idle_since: str | None = None  #: XEP-0319 stamp: idle since then


def _text(el: ET.Element, name: str) -> str | None:
    child = el.find(f"{{{CLIENT_NS}}}{name}")
    return child.text if child is not None and child.text is not None else None


def parse_presence(el: ET.Element) -> PresenceInfo | None:
    """Parse a ``<presence/>``; None for anything else or an unusable sender."""
    if el.tag != PRESENCE_TAG:
        return None
    sender = el.get("from")
    if not sender:
        return None
    try:
        jid = parse_jid(sender)
    except UsageError:
        return None
    ptype = el.get("type") or "available"
    show = _text(el, "show")
    if show is not None:
        show = show.strip()
        show = show if show in SHOWS else None  # RFC: an unknown value is treated as available
    priority = 0
    raw = _text(el, "priority")
    if raw is not None:
        try:
            priority = max(PRIORITY_MIN, min(PRIORITY_MAX, int(raw.strip())))
        except ValueError:
            pass
    since = None
    delay = el.find(f"{{{DELAY_NS}}}delay")
    if delay is not None:
        since = delay.get("stamp")
    error = error_text = None
    if ptype == "error":
        from ..xmpp.stanza import stanza_error

        error, error_text = stanza_error(el)
        error_text = error_text or None
    caps = el.find(f"{{{CAPS_NS}}}c")
    idle = el.find(f"{{{IDLE_NS}}}idle")
    return PresenceInfo(jid=jid.bare, resource=jid.resource, type=ptype, show=show, status=_text(el, "status"),
                        priority=priority, since=since, error=error, error_text=error_text,
                        caps_node=caps.get("node") if caps is not None else None,
                        caps_ver=caps.get("ver") if caps is not None else None,
                        idle_since=idle.get("since") if idle is not None else None)


def utc_iso(moment: datetime) -> str:
    """*moment* as an ISO 8601 UTC time to the second, with a Z."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
