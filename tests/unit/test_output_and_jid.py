"""Rendering and JID validation (pure)."""

from __future__ import annotations

import io
import json

import pytest

from xmppctl.errors import UsageError
from xmppctl.jid import bare_jids, parse_jid
from xmppctl.output import render

ROWS = [{"jid": "a@x.org", "name": None, "ask": True, "groups": ["G1", "G2"]},
        {"jid": "b@x.org", "name": "B, \"quoted\"", "ask": False, "groups": []}]
COLS = ["jid", "name", "ask", "groups"]


def out(fmt, rows=ROWS):
    buf = io.StringIO()
    render(rows, COLS, fmt, buf)
    return buf.getvalue()


def test_json_is_list_with_all_keys():
    assert json.loads(out("json")) == ROWS


def test_ndjson_round_trips():
    assert [json.loads(line) for line in out("ndjson").splitlines()] == ROWS


def test_csv_quotes_and_joins_groups():
    assert out("csv").splitlines() == ['jid,name,ask,groups', 'a@x.org,,true,G1;G2', 'b@x.org,"B, ""quoted""",false,']


def test_table_header_and_cells():
    lines = out("table").splitlines()
    assert lines[0].split() == COLS
    assert "G1, G2" in lines[2] and "yes" in lines[2]


def test_table_of_nothing_is_empty():
    assert out("table", []) == "" and out("json", []) == "[]\n" and out("csv", []) == "jid,name,ask,groups\n"


# ---- remote text in tables: shown escaped, never interpreted --------------------------------

HOSTILE = {"jid": "evil@x.org", "name": "Eve\nmallory@x.org  both  yes", "ask": False,
           "groups": ["G\x1b[2J", "\u202eelif"]}


def test_table_escapes_newlines_so_a_contact_cannot_forge_rows():
    lines = out("table", [HOSTILE]).splitlines()
    assert len(lines) == 3  # header, rule, one row
    assert "Eve\\nmallory@x.org" in lines[2]


@pytest.mark.parametrize("raw, shown", [
    ("a\nb", "a\\nb"), ("a\r\nb", "a\\r\\nb"), ("tab\tx", "tab\\tx"), ("\x1b[31mred", "\\x1b[31mred"),
    ("nul\x00", "nul\\x00"), ("del\x7f", "del\\x7f"), ("csi\x9b2J", "csi\\x9b2J"), ("nel\x85", "nel\\x85"),
    ("\u202eevil", "\\u202eevil"), ("\u202aembed", "\\u202aembed"), ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
    ("mark\u200e\u200f", "mark\\u200e\\u200f"), ("arabic\u061c", "arabic\\u061c"), ("line\u2028sep", "line\\u2028sep"),
    ("lone\udcff", "lone\\udcff"), ("Ünïcode 日本 🎉", "Ünïcode 日本 🎉"), ("back\\slash", "back\\slash"),
])
def test_safe_text_escapes_controls_and_bidi_only(raw, shown):
    from xmppctl.text import safe_text

    assert safe_text(raw) == shown


def test_table_cells_escape_list_members_and_keep_numbers():
    from xmppctl.output import table_cell

    assert table_cell(["a\nb", "c"]) == "a\\nb, c"
    assert table_cell(5) == 5 and table_cell(None) == "" and table_cell(True) == "yes"


def test_record_table_escapes_values():
    from xmppctl.output import render_object

    buf = io.StringIO()
    render_object({"jid": "a@x.org", "status": "busy\n\x1b]0;title\x07"}, "table", buf)
    assert buf.getvalue().count("\n") == 2 and "busy\\n\\x1b]0;title\\x07" in buf.getvalue()


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_machine_formats_stay_faithful(fmt):
    rows = [json.loads(line) for line in out(fmt, [HOSTILE]).splitlines() if line not in ("[", "]")]
    assert rows == [HOSTILE]


def test_csv_stays_faithful_formulas_included():
    import csv

    row = {"jid": "a@x.org", "name": "=HYPERLINK(\"http://x\")\nline2", "ask": False, "groups": ["+1", "@g"]}
    [parsed] = list(csv.DictReader(io.StringIO(out("csv", [row]))))
    assert parsed == {"jid": "a@x.org", "name": row["name"], "ask": "false", "groups": "+1;@g"}


def test_watch_table_line_escapes_remote_text():
    from xmppctl.output import WATCH_TABLE

    event = {"at": "2026-11-25T12:00:00Z", "jid": "a@x.org", "resource": "ph\none", "kind": "presence",
             "type": "available", "show": "away", "priority": 5, "status": "\u202egone\r\n12:00:01  b@x.org", "error": None}
    line = WATCH_TABLE.line(WATCH_TABLE.cells(event))
    assert "\n" not in line and "\r" not in line and "\u202e" not in line
    assert "a@x.org/ph\\none" in line and line.endswith("\\u202egone\\r\\n12:00:01  b@x.org")
    assert " 5 " in line


@pytest.mark.parametrize("value,bare", [
    ("Alice@Example.ORG", "alice@example.org"),
    ("alice@example.org.", "alice@example.org"),
    ("example.org", "example.org"),
    ("ñandú@example.org", "ñandú@example.org"),
    ("x@[::1]", "x@[::1]"),
])
def test_parse_valid(value, bare):
    assert parse_jid(value).bare == bare


def test_resource_kept_in_full_jid():
    j = parse_jid("a@b.org/Phone 1")
    assert (j.bare, j.resource, j.full) == ("a@b.org", "Phone 1", "a@b.org/Phone 1")


@pytest.mark.parametrize("value", ["", "@b.org", "a@", "a@b.org/", "a\"b@c.org", "a b@c.org", "a@b..org", "a@" + "x" * 64 + ".org",
                                   # undecodable argv bytes (surrogateescape) are refused, not a crash
                                   "caf\udce9@x.org", "a@x\udcff.org", "a@x.org/r\udcff"])
def test_parse_invalid(value):
    with pytest.raises(UsageError):
        parse_jid(value)


def test_bare_jids_validates_all_and_dedupes():
    assert bare_jids(["A@b.org", "a@b.org", "c@b.org"]) == ["a@b.org", "c@b.org"]
    with pytest.raises(UsageError):
        bare_jids(["a@b.org", "bad jid"])


@pytest.mark.parametrize("given, same_as", [
    ("b\u200bob@example.org", "bob@example.org"),        # zero-width space: B.1, mapped to nothing
    ("\uff43arol@example.org", "carol@example.org"),     # fullwidth c: NFKC
    ("B\u00adob\ufeff@Example.ORG", "bob@example.org"),  # soft hyphen, BOM, capitals
    ("stra\u00dfe@x.org", "strasse@x.org"),              # B.2 case folding
    ("a@ex\uff0eorg", "a@ex.org"),                       # an IDNA full stop between labels
    ("a@\uff25x.org", "a@ex.org"),                       # nameprep on the domain
])
def test_jids_the_servers_take_for_one_contact_normalise_alike(given, same_as):
    from xmppctl.jid import bare_jid

    assert bare_jid(given) == bare_jid(same_as) == same_as


@pytest.mark.parametrize("value", ["\u200b@x.org", "a\u202eb@x.org", "a\u2028b@x.org", "\u05d0a@x.org", "bad\ufffdx@x.org"])
def test_jids_nodeprep_prohibits_are_refused(value):
    from xmppctl.errors import UsageError
    from xmppctl.jid import bare_jid

    with pytest.raises(UsageError):
        bare_jid(value)
