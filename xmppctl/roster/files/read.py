"""Reading roster files: parse and validate a whole TOML, JSON or CSV roster (formats: see
:mod:`xmppctl.roster.files`).  Every error names the file, the line or item index, and the field.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from ...errors import UsageError
from ...jid import bare_jid
from ..items import RosterItem
from ...text import validate_stored_group, validate_stored_name

FORMATS = ("toml", "json", "csv")
STDIN = "-"
#: keys a contact may have; the read-only ones are ignored on import
WRITABLE_KEYS = ("jid", "name", "groups")
READ_ONLY_KEYS = ("subscription", "ask")
KNOWN_KEYS = WRITABLE_KEYS + READ_ONLY_KEYS
#: the columns of `roster list -o csv`, in the same order (subscription and ask are read-only)
CSV_COLUMNS = ("jid", "name", "subscription", "ask", "groups")

Where = Callable[[str | None], str]


# ---- format ---------------------------------------------------------------------------------


def format_for(path: str | None, explicit: str | None = None, text_head: str | None = None) -> str:
    """The file's format: *explicit* (``-f``), else the file extension, else a look at its start."""
    if explicit:
        fmt = explicit.lower()
        if fmt not in FORMATS:
            raise UsageError(f"unknown roster file format {explicit!r} (expected one of {', '.join(FORMATS)})")
        return fmt
    if path and path != STDIN:
        ext = Path(path).suffix.lower().lstrip(".")
        if ext in FORMATS:
            return ext
    if text_head is not None:
        sniffed = sniff_format(text_head)
        if sniffed:
            return sniffed
    shown = "standard input" if path in (None, STDIN) else path
    raise UsageError(f"{shown}: cannot tell the roster file format; use -f toml|json|csv")


def sniff_format(head: str) -> str | None:
    """Guess the format from the start of the text (for stdin and files without an extension)."""
    text = head.lstrip("\ufeff \t\r\n")
    if not text:
        return None
    if text.startswith("["):
        after = text[1:].lstrip()
        if after[:1] in ("{", "]"):
            return "json"
        return "toml"
    if text.startswith("#") or re.match(r"[A-Za-z0-9_\"'-]+\s*=", text):
        return "toml"
    first = text.split("\n", 1)[0]
    if "jid" in first.lower() and "," in first:
        return "csv"
    if "jid" in first.lower() and "," not in first and "=" not in first:
        return "csv"  # a one-column CSV: just JIDs
    return None


# ---- reading --------------------------------------------------------------------------------


def read_roster_file(path: str, fmt: str | None = None, *, stdin: TextIO | None = None) -> list[RosterItem]:
    """Parse and validate the roster file at *path* (``-``: standard input); sorted by JID."""
    return load_roster_file(path, fmt, stdin=stdin)[0]


def load_roster_file(path: str, fmt: str | None = None, *, stdin: TextIO | None = None) -> tuple[list[RosterItem], str]:
    """Like :func:`read_roster_file`, also returning the format that was read."""
    name = "<stdin>" if path == STDIN else path
    if path == STDIN:
        stream = stdin if stdin is not None else sys.stdin
        try:
            text = stream.read()
        except UnicodeDecodeError as exc:
            raise UsageError(f"{name}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        chosen = format_for(path, fmt, text[:4096])
        return parse_roster_text(text, chosen, name), chosen
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            chosen = format_for(path, fmt, fh.read(4096))
            fh.seek(0)
            if chosen == "csv":  # CSV is read row by row: no copy of the whole text
                return parse_csv(fh, name), chosen
            return parse_roster_text(fh.read(), chosen, name), chosen
    except (UnicodeDecodeError, OSError) as exc:
        raise read_error(name, exc) from None


def read_error(name: str, exc: UnicodeDecodeError | OSError) -> UsageError:
    """The usage error (exit 2) for a file that cannot be read as UTF-8 text."""
    if isinstance(exc, UnicodeDecodeError):
        return UsageError(f"{name}: not valid UTF-8 ({exc.reason} at byte {exc.start})")
    if isinstance(exc, IsADirectoryError):
        return UsageError(f"{name}: is a directory")
    return UsageError(f"{name}: cannot read: {exc.strerror or exc}")


def parse_roster_text(text: str, fmt: str, name: str = "<input>") -> list[RosterItem]:
    """Parse and validate a whole roster file given as text."""
    if fmt == "toml":
        return parse_toml(text, name)
    if fmt == "json":
        return parse_json(text, name)
    if fmt == "csv":
        return parse_csv(io.StringIO(text.lstrip("\ufeff"), newline=""), name)
    raise UsageError(f"unknown roster file format {fmt!r}")


class _Collector:
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
            raise UsageError(f"{where('jid')}: expected a string, got {_type_name(jid_value)}")
        try:
            jid = bare_jid(jid_value.strip())
        except UsageError as exc:
            raise UsageError(f"{where('jid')}: {exc.message}") from None
        if jid in self.seen:
            raise UsageError(f"{where('jid')}: duplicate JID {jid} (first at {self.seen[jid]})")
        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            raise UsageError(f"{where('name')}: expected a string, got {_type_name(name)}")
        name = validate_stored_name(name, where("name"))
        groups_value = raw.get("groups")
        if groups_value is None:
            groups: tuple[str, ...] = ()
        else:
            if not isinstance(groups_value, list):
                raise UsageError(f"{where('groups')}: expected a list of strings, got {_type_name(groups_value)}")
            for g in groups_value:
                if not isinstance(g, str):
                    raise UsageError(f"{where('groups')}: expected a list of strings, got a {_type_name(g)} in it")
                if g not in self.good_groups:  # a roster has few distinct groups: check each once
                    validate_stored_group(g, where("groups"))
                    self.good_groups.add(g)
            groups = tuple(sorted(set(groups_value)))
        self.seen[jid] = place
        self.items.append(RosterItem(jid, name, groups=groups))

    def result(self) -> list[RosterItem]:
        self.items.sort(key=lambda item: item.jid)
        return self.items


def _parser_limit(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "table/object", type(None): "null"}.get(type(value), type(value).__name__)


_TOML_KEY = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")


def parse_toml(text: str, name: str = "<input>") -> list[RosterItem]:
    """``[[contact]]`` tables; errors placed by :func:`toml_table_places`."""
    import tomllib

    try:
        doc = tomllib.loads(text.lstrip("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{name}: invalid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # an integer over 4300 digits, arrays nested too deep
        raise UsageError(f"{name}: invalid TOML: {_parser_limit(exc)}") from None
    lines = text.splitlines()
    for key in doc:
        if key != "contact":
            line = _toml_key_line(lines, key, 0, len(lines))
            raise UsageError(f"{name}:{line or '?'}: {key}: unknown key {key!r} (expected [[contact]] tables)")
    contacts = doc.get("contact", [])
    if not isinstance(contacts, list):
        raise UsageError(f"{name}: contact: expected [[contact]] tables, got {_type_name(contacts)}")
    out = _Collector(name)
    for raw, (where, place) in zip(contacts, toml_table_places(lines, "contact", len(contacts), name)):
        if not isinstance(raw, dict):
            raise UsageError(f"{where(None)}: expected a table, got {_type_name(raw)}")
        out.add(raw, where, place)
    del doc
    return out.result()


def toml_table_places(lines: list[str], table: str, count: int, name: str) -> list[tuple[Where, str]]:
    """For each of the *count* ``[[table]]`` tables of a TOML text: how its errors are placed
    (``FILE:LINE: FIELD``) and how a duplicate refers to it (``line N``).

    tomllib has no positions, so lines are found by a scan of the text; inline arrays of
    tables have no line each, and are placed by index instead (``FILE: table #N: FIELD``).
    """
    header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
    starts = [i + 1 for i, line in enumerate(lines) if header.match(line)]
    if len(starts) != count:
        def by_index(index: int) -> Where:
            return lambda field: f"{name}: {table} #{index + 1}" + (f": {field}" if field else "")

        return [(by_index(index), f"{table} #{index + 1}") for index in range(count)]

    def by_line(first: int, end: int) -> Where:
        def where(field: str | None) -> str:
            line = _toml_key_line(lines, field, first, end) if field else None
            return f"{name}:{line or first}" + (f": {field}" if field else "")
        return where

    ends = [start - 1 for start in starts[1:]] + [len(lines)]
    return [(by_line(first, end), f"line {first}") for first, end in zip(starts, ends)]


def _toml_key_line(lines: list[str], key: str | None, first: int, end: int) -> int | None:
    """The 1-based line in [first, end] where *key* is assigned, if it can be found."""
    if key is None:
        return None
    for number in range(max(first, 1), min(end, len(lines)) + 1):
        m = _TOML_KEY.match(lines[number - 1])
        if m and (m.group(1) or m.group(2) or m.group(3)) == key:
            return number
    return None


def parse_json(text: str, name: str = "<input>") -> list[RosterItem]:
    """A list of objects (``roster list -o json``); errors name the item index (from 0)."""
    import json

    try:
        doc = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # an integer over 4300 digits, lists nested too deep
        raise UsageError(f"{name}: invalid JSON: {_parser_limit(exc)}") from None
    if not isinstance(doc, list):
        raise UsageError(f"{name}: expected a JSON list of contacts, got {_type_name(doc)}")
    out = _Collector(name)
    for index, raw in enumerate(doc):
        def where(field: str | None, index: int = index) -> str:
            return f"{name}: item [{index}]" + (f": {field}" if field else "")

        if not isinstance(raw, dict):
            raise UsageError(f"{where(None)}: expected an object, got {_type_name(raw)}")
        out.add(raw, where, f"item [{index}]")
        doc[index] = None  # drop the parsed dict as we go: keeps the peak low on big files
    return out.result()


def parse_csv(stream: Iterable[str], name: str = "<input>") -> list[RosterItem]:
    """``jid,name,groups`` (any order; ``subscription``/``ask`` columns allowed), groups ``;``-separated."""
    import csv

    reader = csv.reader(stream)
    try:
        header = None
        for row in reader:
            if row and any(cell.strip() for cell in row):
                header = [cell.strip().lstrip("\ufeff").lower() for cell in row]
                break
        if header is None:
            return []
        header_line = reader.line_num
        for column in header:
            if column not in CSV_COLUMNS:
                raise UsageError(f"{name}:{header_line}: {column or '(empty)'}: unknown column "
                                 f"(expected {', '.join(CSV_COLUMNS)})")
        if "jid" not in header:
            raise UsageError(f"{name}:{header_line}: jid: the header has no jid column")
        if len(set(header)) != len(header):
            raise UsageError(f"{name}:{header_line}: duplicate column in the header")
        out = _Collector(name)
        for row in reader:
            line = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise UsageError(f"{name}:{line}: expected {len(header)} fields ({','.join(header)}), got {len(row)}")
            raw: dict[str, Any] = {}
            for column, cell in zip(header, row):
                if column in READ_ONLY_KEYS:
                    continue
                if column == "groups":
                    raw["groups"] = [g.strip() for g in cell.split(";")] if cell.strip() else []
                elif column == "name":
                    raw["name"] = cell if cell != "" else None
                else:
                    raw["jid"] = cell

            def where(field: str | None, line: int = line) -> str:
                return f"{name}:{line}" + (f": {field}" if field else "")

            out.add(raw, where, f"line {line}")
    except csv.Error as exc:
        raise UsageError(f"{name}:{reader.line_num}: invalid CSV: {exc}") from None
    return out.result()
