"""Render rows as table, JSON, NDJSON or CSV.  Pure: no I/O besides the given stream."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TextIO

from .formats import OUTPUT_FORMATS as FORMATS
from .text import safe_text

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


class LineTable:
    """A table printed a line at a time, for streams (``presence watch``): fixed column widths,
    since no later row can widen a column that is already on the screen.

    *cells* turns a row into the table's cells (a line may show several keys in one cell).
    """

    def __init__(self, headers: Sequence[str], widths: Sequence[int], cells: Callable[[Mapping[str, Any]], Sequence[Any]]):
        self.headers = tuple(headers)
        self.widths = tuple(widths)
        self.cells = cells

    def with_account(self, width: int) -> LineTable:
        """This table with a leading ``account`` column *width* wide (fleet mode)."""
        cells = self.cells
        return LineTable(("account", *self.headers), (width, *self.widths), lambda row: [row["account"], *cells(row)])

    def line(self, cells: Sequence[Any]) -> str:
        return "  ".join(str(table_cell(c)).ljust(w) for c, w in zip(cells, self.widths)).rstrip()


class RowWriter:
    """Write rows one at a time in *fmt*: the one renderer behind every command that prints rows.

    JSON is a list of objects with every key of each row (not only *columns*), written at
    :meth:`close`; NDJSON is one such object per line; CSV has a header row (*columns*) and
    joins lists with ``;``.  These three carry the values verbatim; a table escapes control
    and bidi characters (:func:`safe_text`), so remote text (a contact's name, status...)
    cannot forge rows or drive the terminal.  A table is aligned over all rows at
    :meth:`close`, unless *line_table* is given: then each row is a line of fixed widths.

    *live* flushes after every line (streams a person or a pipe watches as it happens).
    """

    def __init__(self, columns: Sequence[str], fmt: str, stream: TextIO | None = None, *,
                 line_table: LineTable | None = None, live: bool = False):
        if fmt not in FORMATS:  # validated by the CLI; kept as a guard for library callers
            raise ValueError(f"unknown output format {fmt!r}")
        self.columns = tuple(columns)
        self.fmt = fmt
        self.out = stream if stream is not None else sys.stdout
        self.line_table = line_table if fmt == "table" else None
        self.live = live
        self._started = False
        self._kept: list[Any] = []  # json: encoded objects; buffered table: rows of cells
        self._csv = csv.writer(self.out, lineterminator="\n") if fmt == "csv" else None

    def start(self) -> None:
        """Write the header now (CSV, line table), e.g. once a stream is known to be up."""
        if self._started:
            return
        self._started = True
        if self._csv is not None:
            self._csv.writerow(self.columns)
        elif self.line_table is not None:
            self.out.write(self.line_table.line(self.line_table.headers) + "\n")
        if self.live:
            self.out.flush()

    def row(self, row: Mapping[str, Any]) -> None:
        self.start()
        if self.fmt == "json":
            # encoded now by json's C encoder (indent= falls back to the pure-Python one,
            # ~10x slower on a 1000-item roster); written as one list at close
            self._kept.append(json.dumps(row, ensure_ascii=False))
            return
        if self.fmt == "ndjson":
            self.out.write(json.dumps(row, ensure_ascii=False) + "\n")
        elif self._csv is not None:
            self._csv.writerow([csv_cell(row.get(c)) for c in self.columns])
        elif self.line_table is not None:
            self.out.write(self.line_table.line(self.line_table.cells(row)) + "\n")
        else:
            self._kept.append([table_cell(row.get(c)) for c in self.columns])
            return
        if self.live:
            self.out.flush()

    def close(self) -> None:
        """Finish the output: the JSON list, the aligned table (nothing for no rows), a lone CSV header."""
        self.start()
        if self.fmt == "json":
            # one object per line: readable and diff-friendly
            self.out.write("[\n  " + ",\n  ".join(self._kept) + "\n]\n" if self._kept else "[]\n")
        elif self.fmt == "table" and self.line_table is None and self._kept:
            from tabulate import tabulate  # imported here: only tables need it

            self.out.write(tabulate(self._kept, headers=list(self.columns), tablefmt="simple", disable_numparse=True))
            self.out.write("\n")
        self._kept = []


def render(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], fmt: str, stream: TextIO | None = None) -> None:
    """Write *rows* (dicts with stable keys) in *fmt*; *columns* orders table and CSV columns.

    See :class:`RowWriter` for what each format carries.
    """
    writer = RowWriter(columns, fmt, stream)
    for row in rows:
        writer.row(row)
    writer.close()


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


# ---- rows of particular outputs -------------------------------------------------------------


def _watch_cells(event: Mapping[str, Any]) -> list[Any]:
    resource = event["resource"]
    request = event["kind"] == "subscription" and event["type"] == "subscribe"
    return [event["at"][11:19], event["jid"] + (f"/{resource}" if resource else ""),
            event["type"] + (" (request)" if request else ""),
            event["show"], event["priority"], event["status"] or event["error"]]


#: ``presence watch`` as a table: time (HH:MM:SS), jid/resource, type, show, prio, status or error
WATCH_TABLE = LineTable(("time", "jid/resource", "type", "show", "prio", "status"), (8, 36, 20, 9, 4, 0), _watch_cells)


class _Plan(Protocol):
    """What :func:`plan_rows` and :func:`result_rows` read of an edit plan."""

    changes: list[Any]  # roster.Change
    skipped: list[tuple[str, str]]
    refused: list[Any]  # roster.ChangeResult
    extra_rows: list[dict[str, Any]]


def change_text(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    """A plan row's changes for a table or CSV cell: ``field: old -> new`` (``-`` for nothing)."""
    out = []
    for c in changes:
        if c["field"] == "item":
            out.append("item removed")
            continue
        old, new = (", ".join(v) if isinstance(v, list) else v for v in (c["old"], c["new"]))
        out.append(f"{c['field']}: {old or '-'} -> {new or '-'}")
    return out


def plan_rows(plan: _Plan, fmt: str) -> list[dict[str, Any]]:
    """A dry run's rows, sorted by JID (side actions last): action, jid, changes, note."""
    rows: list[dict[str, Any]] = []
    for change in plan.changes:
        row = change.to_dict()
        row["note"] = None
        rows.append(row)
    for jid, why in plan.skipped:
        rows.append({"action": "skip", "jid": jid, "changes": [], "note": why})
    for r in plan.refused:
        rows.append({"action": "error", "jid": r.change.jid, "changes": [], "note": f"{r.error}: {r.message}"})
    rows.sort(key=lambda row: row["jid"])
    rows += [{"action": r["action"], "jid": r["jid"], "changes": [], "note": r.get("message")} for r in plan.extra_rows]
    if fmt in ("table", "csv"):
        for row in rows:
            row["changes"] = change_text(row["changes"])
    return rows


def result_rows(plan: _Plan, results: Sequence[Any], fmt: str = "json") -> list[dict[str, Any]]:
    """Applied edits' rows, sorted by JID (side actions last): action, jid, ok, error, message."""
    rows = [r.to_dict() for r in results]
    rows += [{"action": "skip", "jid": jid, "ok": True, "error": None, "message": why} for jid, why in plan.skipped]
    rows.sort(key=lambda row: row["jid"])
    rows += plan.extra_rows
    if fmt == "table":  # a blank cell for a failure is too easy to miss
        rows = [{**row, "ok": "yes" if row["ok"] else "NO"} for row in rows]
    return rows
