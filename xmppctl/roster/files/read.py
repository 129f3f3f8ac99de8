"""Reading roster files: parse and validate a whole TOML, JSON or CSV roster (formats: see
:mod:`xmppctl.roster.files`).  Every error names the file, the line or item index, and the field.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ...errors import UsageError
from ..items import RosterItem
from .fields import READ_ONLY_KEYS, ItemCollector, Where, parser_limit, read_error, type_name

FORMATS = ("toml", "json", "csv", "xep0227")
#: file extensions that name a format other than their own
EXTENSIONS = {"xml": "xep0227"}
STDIN = "-"
#: the columns of `roster list -o csv`, in the same order (subscription and ask are read-only)
CSV_COLUMNS = ("jid", "name", "subscription", "ask", "groups")


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
        ext = EXTENSIONS.get(ext, ext)
        if ext in FORMATS:
            return ext
    if text_head is not None:
        sniffed = sniff_format(text_head)
        if sniffed:
            return sniffed
    shown = "standard input" if path in (None, STDIN) else path
    raise UsageError(f"{shown}: cannot tell the roster file format; use -f toml|json|csv|xep0227")


def sniff_format(head: str) -> str | None:
    """Guess the format from the start of the text (for stdin and files without an extension)."""
    text = head.lstrip("\ufeff \t\r\n")
    if not text:
        return None
    if text.startswith("<"):
        from .xep0227 import is_xep0227

        return "xep0227" if is_xep0227(text) else None
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
    source = load_roster_source(path, fmt, stdin=stdin)
    return source.items, source.format


@dataclass
class RosterSource:
    """A validated roster file: its items, its format, and what only XEP-0227 files carry."""

    items: list[RosterItem]
    format: str
    #: XEP-0227: the user picked from the file, and the JIDs with a pending request to it
    user: str | None = None
    pending_in: tuple[str, ...] = ()

    @property
    def orphan_requests(self) -> list[str]:
        """Pending requesters the file has no item for (ejabberd's export drops those items)."""
        have = {item.jid for item in self.items}
        return [jid for jid in self.pending_in if jid not in have]


def load_roster_source(path: str, fmt: str | None = None, *, stdin: TextIO | None = None, user: str | None = None,
                       account_jid: str | None = None) -> RosterSource:
    """Read and validate a roster file of any format.

    A XEP-0227 file may hold many users: *user* (``--user``) picks one, else the only one,
    else *account_jid* (:meth:`xmppctl.roster.files.xep0227.PieFile.select`).
    """
    name = "<stdin>" if path == STDIN else path
    if path == STDIN:
        stream = stdin if stdin is not None else sys.stdin
        try:
            text = stream.read()
        except UnicodeDecodeError as exc:
            raise UsageError(f"{name}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        chosen = format_for(path, fmt, text[:4096])
        if chosen == "xep0227":
            from .xep0227 import parse_pie

            return _pie_source(parse_pie(text.lstrip("\ufeff"), name), user, account_jid)
        _no_user(user)
        return RosterSource(parse_roster_text(text, chosen, name), chosen)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            chosen = format_for(path, fmt, fh.read(4096))
            if chosen == "xep0227":
                from .xep0227 import read_pie_file

                return _pie_source(read_pie_file(path), user, account_jid)
            _no_user(user)
            fh.seek(0)
            if chosen == "csv":  # CSV is read row by row: no copy of the whole text
                return RosterSource(parse_csv(fh, name), chosen)
            return RosterSource(parse_roster_text(fh.read(), chosen, name), chosen)
    except (UnicodeDecodeError, OSError) as exc:
        raise read_error(name, exc) from None


def _no_user(user: str | None) -> None:
    if user is not None:
        raise UsageError("--user picks a user of a XEP-0227 file; this file is not one")


def _pie_source(pie, user: str | None, account_jid: str | None) -> RosterSource:
    chosen = pie.select(user, account_jid)
    return RosterSource(list(chosen.items), "xep0227", chosen.jid, chosen.pending_in)


def parse_roster_text(text: str, fmt: str, name: str = "<input>") -> list[RosterItem]:
    """Parse and validate a whole roster file given as text."""
    if fmt == "toml":
        return parse_toml(text, name)
    if fmt == "json":
        return parse_json(text, name)
    if fmt == "csv":
        return parse_csv(io.StringIO(text.lstrip("\ufeff"), newline=""), name)
    if fmt == "xep0227":
        from .xep0227 import parse_pie

        return list(parse_pie(text.lstrip("\ufeff"), name).select().items)
    raise UsageError(f"unknown roster file format {fmt!r}")


def parse_toml(text: str, name: str = "<input>") -> list[RosterItem]:
    """``[[contact]]`` tables; errors placed by :func:`toml_table_places`."""
    import tomllib

    try:
        doc = tomllib.loads(text.lstrip("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{name}: invalid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # an integer over 4300 digits, arrays nested too deep
        raise UsageError(f"{name}: invalid TOML: {parser_limit(exc)}") from None
    lines = text.splitlines()
    for key in doc:
        if key != "contact":
            line = toml_key_line(lines, key, 0, len(lines))
            raise UsageError(f"{name}:{line or '?'}: {key}: unknown key {key!r} (expected [[contact]] tables)")
    contacts = doc.get("contact", [])
    if not isinstance(contacts, list):
        raise UsageError(f"{name}: contact: expected [[contact]] tables, got {type_name(contacts)}")
    out = ItemCollector(name)
    for raw, (where, place) in zip(contacts, toml_table_places(lines, "contact", len(contacts), name)):
        if not isinstance(raw, dict):
            raise UsageError(f"{where(None)}: expected a table, got {type_name(raw)}")
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
            line = toml_key_line(lines, field, first, end) if field else None
            return f"{name}:{line or first}" + (f": {field}" if field else "")
        return where

    ends = [start - 1 for start in starts[1:]] + [len(lines)]
    return [(by_line(first, end), f"line {first}") for first, end in zip(starts, ends)]


_TOML_KEY = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")


def toml_key_line(lines: list[str], key: str | None, first: int, end: int) -> int | None:
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
        raise UsageError(f"{name}: invalid JSON: {parser_limit(exc)}") from None
    if not isinstance(doc, list):
        raise UsageError(f"{name}: expected a JSON list of contacts, got {type_name(doc)}")
    out = ItemCollector(name)
    for index, raw in enumerate(doc):
        def where(field: str | None, index: int = index) -> str:
            return f"{name}: item [{index}]" + (f": {field}" if field else "")

        if not isinstance(raw, dict):
            raise UsageError(f"{where(None)}: expected an object, got {type_name(raw)}")
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
        out = ItemCollector(name)
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
