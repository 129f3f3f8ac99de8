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
