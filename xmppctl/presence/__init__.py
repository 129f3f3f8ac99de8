"""Presence (RFC 6121 §4): set it, take a snapshot of the contacts' presence (probe), watch it.

By concern: :mod:`.model` (validation, parsing what arrives), :mod:`.inbox` (collecting it
from the raw stream), :mod:`.publish` (sending our own presence), :mod:`.probe` and
:mod:`.watch`.  The names below are the package's public API.
"""

from .inbox import PresenceInbox
from .model import (
    PRIORITY_MAX,
    PRIORITY_MIN,
    READ_ONLY_PRIORITY,
    SHOW_CHOICES,
    SHOWS,
    PresenceInfo,
    check_priority,
    parse_presence,
    parse_show,
)
from .probe import (
    DETAIL_COLUMNS,
    PROBE_COLUMNS,
    PresenceRow,
    PresenceSnapshot,
    ProbeCollector,
    add_last_activity,
    last_activity,
    not_online,
    parse_last_activity,
    probe,
    select_targets,
)
from .publish import PresenceRequest, announce, barrier, become_invisible, hold_presence, initial_presence, make_request, publish, send_presence
from .watch import WATCH_COLUMNS, PresenceEvent, WatchFilter, to_event, watch

__all__ = [
    "DETAIL_COLUMNS", "PRIORITY_MAX", "PRIORITY_MIN", "PROBE_COLUMNS", "READ_ONLY_PRIORITY", "SHOWS", "SHOW_CHOICES", "WATCH_COLUMNS",
    "PresenceEvent", "PresenceInbox", "PresenceInfo", "PresenceRequest", "PresenceRow", "PresenceSnapshot",
    "ProbeCollector", "WatchFilter", "add_last_activity", "announce", "barrier", "become_invisible", "check_priority", "hold_presence",
    "initial_presence", "last_activity", "make_request", "not_online", "parse_last_activity", "parse_presence", "parse_show",
    "probe", "publish", "select_targets", "send_presence", "to_event", "watch",
]
