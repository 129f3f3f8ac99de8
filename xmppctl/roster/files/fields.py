"""What every roster file format shares: its keys, the check of one item (JID, name, groups,
duplicates), and the errors for a file that cannot be read.  Library code: raises UsageError
(exit 2, naming the file, line or element and the field), never prints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import UsageError
from ...jid import bare_jid
from ...text import validate_stored_group, validate_stored_name
from ..items import RosterItem

#: keys a contact may have; the read-only ones are ignored on import
WRITABLE_KEYS = ("jid", "name", "groups")
READ_ONLY_KEYS = ("subscription", "ask")
KNOWN_KEYS = WRITABLE_KEYS + READ_ONLY_KEYS

Where = Callable[[str | None], str]


def read_error(name: str, exc: UnicodeDecodeError | OSError) -> UsageError:
    """The usage error (exit 2) for a file that cannot be read as UTF-8 text."""
    if isinstance(exc, UnicodeDecodeError):
        return UsageError(f"{name}: not valid UTF-8 ({exc.reason} at byte {exc.start})")
    if isinstance(exc, IsADirectoryError):
        return UsageError(f"{name}: is a directory")
    return UsageError(f"{name}: cannot read: {exc.strerror or exc}")


def parser_limit(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]


def type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "table/object", type(None): "null"}.get(type(value), type(value).__name__)


class ItemCollector:
    """Validates items one by one and remembers where each JID was seen (duplicates)."""

    def __init__(self, name: str):
        self.name = name
        self.items: list[RosterItem] = []
        self.seen: dict[str, str] = {}
        self.good_groups: set[str] = set()

    def add(self, raw: dict[str, Any], where: Where, place: str) -> None:
        for key in raw:
            if key not in KNOWN_KEYS:
                raise UsageError(f"{where(key)}: unknown key {key!r} (expected {', '.join(KNOWN_KEYS)})")
        if "jid" not in raw or raw["jid"] in (None, ""):
            raise UsageError(f"{where('jid')}: missing JID")
        jid_value = raw["jid"]
        if not isinstance(jid_value, str):
            raise UsageError(f"{where('jid')}: expected a string, got {type_name(jid_value)}")
        try:
            jid = bare_jid(jid_value.strip())
        except UsageError as exc:
            raise UsageError(f"{where('jid')}: {exc.message}") from None
        if jid in self.seen:
            raise UsageError(f"{where('jid')}: duplicate JID {jid} (first at {self.seen[jid]})")
        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            raise UsageError(f"{where('name')}: expected a string, got {type_name(name)}")
        name = validate_stored_name(name, where("name"))
        groups_value = raw.get("groups")
        if groups_value is None:
            groups: tuple[str, ...] = ()
        else:
            if not isinstance(groups_value, list):
                raise UsageError(f"{where('groups')}: expected a list of strings, got {type_name(groups_value)}")
            for g in groups_value:
                if not isinstance(g, str):
                    raise UsageError(f"{where('groups')}: expected a list of strings, got a {type_name(g)} in it")
                if g not in self.good_groups:  # a roster has few distinct groups: check each once
                    validate_stored_group(g, where("groups"))
                    self.good_groups.add(g)
            groups = tuple(sorted(set(groups_value)))
        self.seen[jid] = place
        self.items.append(RosterItem(jid, name, groups=groups))

    def result(self) -> list[RosterItem]:
        self.items.sort(key=lambda item: item.jid)
        return self.items
