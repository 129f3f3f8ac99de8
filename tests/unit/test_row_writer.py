"""The one row writer: streamed formats, the line table of ``presence watch``, plan/result rows (pure)."""

from __future__ import annotations

import io
import json

import pytest

from xmppctl.output import WATCH_TABLE, RowWriter, change_text, render

COLS = ("at", "jid", "resource", "kind", "type", "show", "status", "priority", "since", "error")
EVENTS = [
    {"at": "2026-11-25T10:11:12.123+00:00", "jid": "a@x.org", "resource": "phone\n", "kind": "presence", "type": "available",
     "show": "away", "status": "out\x1b[2J", "priority": 5, "since": None, "error": None},
    {"at": "2026-11-25T10:11:13+00:00", "jid": "b@x.org", "resource": None, "kind": "subscription", "type": "subscribe",
     "show": None, "status": None, "priority": None, "since": None, "error": None},
    {"at": "2026-11-25T10:11:14+00:00", "jid": "c@x.org", "resource": "r", "kind": "presence", "type": "error",
     "show": None, "status": None, "priority": None, "since": None, "error": "remote-server-not-found"},
    {"at": "2026-11-25T10:11:15+00:00", "jid": "averyveryveryverylongjidthatoverflows@example.org", "resource": "res",
     "kind": "presence", "type": "unavailable", "show": None, "status": "bye", "priority": -128, "since": None, "error": None},
]


class Recorder(io.StringIO):
    """A stream that remembers what had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def watch(fmt: str, events=EVENTS) -> Recorder:
    out = Recorder()
    rows = RowWriter(COLS, fmt, out, line_table=WATCH_TABLE, live=True)
    rows.start()
    for event in events:
        rows.row(event)
    rows.close()
    return out


def test_watch_table_lines_have_fixed_widths_and_escape_remote_text():
    assert watch("table").getvalue().splitlines() == [
        "time      jid/resource                          type                  show       prio  status",
        "10:11:12  a@x.org/phone\\n                       available             away       5     out\\x1b[2J",
        "10:11:13  b@x.org                               subscribe (request)",
        "10:11:14  c@x.org/r                             error                                  remote-server-not-found",
        "10:11:15  averyveryveryverylongjidthatoverflows@example.org/res  unavailable                      -128  bye",
    ]


@pytest.mark.parametrize("fmt", ["table", "ndjson", "csv"])
def test_live_formats_flush_the_header_and_every_row_as_it_comes(fmt):
    out = watch(fmt)
    assert len(out.flushed) == 1 + len(EVENTS)  # the header (or nothing, for ndjson), then each row
    assert all(a < b for a, b in zip(out.flushed, out.flushed[1:])) and out.flushed[-1] == out.getvalue()


def test_live_json_is_one_list_written_at_close():
    out = Recorder()
    rows = RowWriter(COLS, "json", out, live=True)
    rows.start()
    rows.row(EVENTS[0])
    assert out.getvalue() == ""
    rows.close()
    assert json.loads(out.getvalue()) == EVENTS[:1]


def test_live_csv_is_verbatim():
    import csv

    records = list(csv.reader(io.StringIO(watch("csv").getvalue())))
    assert records[0] == list(COLS)
    assert records[1][2] == "phone\n" and records[1][6] == "out\x1b[2J"
    assert records[2] == ["2026-11-25T10:11:13+00:00", "b@x.org", "", "subscription", "subscribe", "", "", "", "", ""]


def test_a_batch_table_is_aligned_over_all_rows_at_close():
    out = io.StringIO()
    rows = RowWriter(("jid", "name"), "table", out)
    rows.row({"jid": "a@x.org", "name": "A"})
    assert out.getvalue() == ""
    rows.row({"jid": "bb@x.org", "name": None})
    rows.close()
    assert out.getvalue() == "jid       name\n--------  ------\na@x.org   A\nbb@x.org\n"


def test_unknown_format_is_refused_before_writing():
    with pytest.raises(ValueError):
        RowWriter(("jid",), "yaml", io.StringIO())


def test_render_is_the_row_writer_in_one_call():
    rows = [{"jid": "a@x.org", "n": 1}, {"jid": "b@x.org", "n": None}]
    for fmt in ("table", "json", "ndjson", "csv"):
        by_render, by_writer = io.StringIO(), io.StringIO()
        render(iter(rows), ("jid", "n"), fmt, by_render)
        writer = RowWriter(("jid", "n"), fmt, by_writer)
        for row in rows:
            writer.row(row)
        writer.close()
        assert by_render.getvalue() == by_writer.getvalue()


def test_change_text_shows_old_and_new_or_a_dash():
    assert change_text([{"field": "name", "old": None, "new": "A"},
                        {"field": "groups", "old": ["G", "H"], "new": []},
                        {"field": "item", "old": {"jid": "a@x.org"}, "new": None}]) == [
        "name: - -> A", "groups: G, H -> -", "item removed"]
