"""Render rows as table, JSON, NDJSON or CSV.  Pure: no I/O besides the given stream."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

FORMATS = ("table", "json", "ndjson", "csv")

# What a table must not print raw: C0/C1 controls and DEL (a newline forges a row, ESC drives
# the terminal), the Unicode line/paragraph separators, bidi embeddings, overrides, isolates
# and marks (they reorder what follows on the line), and lone surrogates (not printable at all).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: Any) -> str:
    """*value* as text a terminal shows as is: unsafe characters escaped (\\n, \\x1b, \\u202e).

    For tables and other human-readable lines only; JSON, NDJSON and CSV stay faithful.
    """
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text)


def table_cell(value: Any) -> Any:
    """A table cell: empty for null, yes/blank for booleans, lists joined by ", ", numbers as
    they are (tabulate aligns them), text escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(safe_text(v) for v in value)
    return safe_text(value)


def csv_cell(value: Any) -> Any:
    """A CSV cell: empty for null, true/false, lists joined by ";"; text verbatim (no formula escaping)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    return value


def render(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], fmt: str, stream: TextIO | None = None) -> None:
    """Write *rows* (dicts with stable keys) in *fmt*; *columns* orders table and CSV columns.

    JSON is a list of objects with every key of each row (not only *columns*); NDJSON is one
    such object per line; CSV has a header row and joins lists with ``;``.  These three carry
    the values verbatim; a table escapes control and bidi characters (:func:`safe_text`), so
    remote text (a contact's name, status...) cannot forge rows or drive the terminal.
    """
    out = stream if stream is not None else sys.stdout
    if fmt == "json":
        # One object per line: readable, diff-friendly, and encoded by json's C encoder
        # (indent= falls back to the pure-Python one, ~10x slower on a 1000-item roster).
        lines = [json.dumps(row, ensure_ascii=False) for row in rows]
        out.write("[\n  " + ",\n  ".join(lines) + "\n]\n" if lines else "[]\n")
    elif fmt == "ndjson":
        out.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_cell(row.get(c)) for c in columns])
    elif fmt == "table":
        rows = list(rows)
        if not rows:
            return
        from tabulate import tabulate  # imported here: only tables need it

        table = [[table_cell(row.get(c)) for c in columns] for row in rows]
        out.write(tabulate(table, headers=list(columns), tablefmt="simple", disable_numparse=True))
        out.write("\n")
    else:  # validated by the CLI; kept as a guard for library callers
        raise ValueError(f"unknown output format {fmt!r}")


def render_object(obj: Mapping[str, Any], fmt: str, stream: TextIO | None = None) -> None:
    """Render one record: a key/value table, a JSON object, one NDJSON line or a one-row CSV."""
    out = stream if stream is not None else sys.stdout
    if fmt == "json":
        json.dump(dict(obj), out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt == "table":
        from tabulate import tabulate

        out.write(tabulate([[k, table_cell(v)] for k, v in obj.items()], tablefmt="plain", disable_numparse=True))
        out.write("\n")
    else:
        render([obj], list(obj), fmt, out)
