"""Roster files: parsing, whole-file validation with positions, writers, atomic export."""

from __future__ import annotations

import io
import os
from datetime import datetime, timezone

import pytest

from xmppctl.errors import UsageError
from xmppctl.roster.items import RosterItem
from xmppctl.roster.files import (
    backup_path,
    format_for,
    load_roster_file,
    parse_roster_text,
    read_roster_file,
    sniff_format,
    write_roster,
    write_roster_path,
)

ITEMS = [
    RosterItem("a@x.org", "Ann \"the\" \\ Åsa", "both", False, ("Friends", "Work, Inc")),
    RosterItem("b@x.org", None, "to", True, ()),
    RosterItem("c@x.org", "", "none", False, ("Ünïcode group",)),
]


def as_imported(items):
    """What an import keeps: jid, name (empty means none), groups; subscription/ask dropped."""
    return [RosterItem(i.jid, i.name or None, groups=i.groups) for i in items]


@pytest.mark.parametrize("fmt", ["toml", "json", "csv"])
def test_written_file_reads_back_with_the_same_names_and_groups(fmt):
    buf = io.StringIO()
    write_roster(ITEMS, fmt, buf)
    assert parse_roster_text(buf.getvalue(), fmt, f"x.{fmt}") == as_imported(ITEMS)


def test_toml_contacts_are_normalised_and_sorted():
    text = '[[contact]]\njid = "Zed@X.org"\n\n[[contact]]\njid = "amy@x.org"\nname = "Amy"\ngroups = ["B", "A", "A"]\n'
    assert parse_roster_text(text, "toml") == [RosterItem("amy@x.org", "Amy", groups=("A", "B")), RosterItem("zed@x.org")]


def test_json_accepts_roster_list_output_and_ignores_read_only_keys():
    text = '[{"jid": "a@x.org", "name": null, "subscription": "both", "ask": true, "groups": ["G"]}]'
    assert parse_roster_text(text, "json") == [RosterItem("a@x.org", None, groups=("G",))]


def test_csv_columns_may_come_in_any_order_and_groups_split_on_semicolons():
    text = "groups,jid,name\nG1; G2,a@x.org,Ann\n\n,b@x.org,\n"
    assert parse_roster_text(text, "csv") == [RosterItem("a@x.org", "Ann", groups=("G1", "G2")), RosterItem("b@x.org")]


def test_empty_files_are_empty_rosters():
    assert parse_roster_text("", "toml") == []
    assert parse_roster_text("[]", "json") == []
    assert parse_roster_text("jid,name,groups\n", "csv") == []


@pytest.mark.parametrize("fmt,text,expected", [
    # TOML: file:line: field
    ("toml", '[[contact]]\njid = "a@x.org"\n\n[[contact]]\njid = "not a jid"\n', "r.toml:5: jid: invalid JID"),
    ("toml", '[[contact]]\njid = "a@x.org"\n[[contact]]\njid = "A@x.org"\n', "r.toml:4: jid: duplicate JID a@x.org (first at line 1)"),
    ("toml", '[[contact]]\njid = "a@x.org"\nname = "A"\ngroups = ["ok", ""]\n', "r.toml:4: groups: empty group name"),
    ("toml", '[[contact]]\njid = "a@x.org"\nnick = "A"\n', "r.toml:3: nick: unknown key 'nick'"),
    ("toml", '[[contact]]\njid = "a@x.org"\nname = 5\n', "r.toml:3: name: expected a string, got integer"),
    ("toml", '[[contact]]\njid = "a@x.org"\ngroups = "G"\n', "r.toml:3: groups: expected a list of strings, got string"),
    ("toml", 'title = "x"\n[[contact]]\njid = "a@x.org"\n', "r.toml:1: title: unknown key"),
    ("toml", '[[contact]]\njid = "a@x.org\n', "r.toml: invalid TOML"),
    ("toml", '[[contact]]\nname = "A"\n', "r.toml:1: jid: missing JID"),
    # JSON: file: item [index]: field
    ("json", '[{"jid": "a@x.org"}, {"jid": "a@x.org/res"}]', "r.json: item [1]: jid: invalid JID"),
    ("json", '[{"jid": "a@x.org"}, {"jid": "a@x.org"}]', "r.json: item [1]: jid: duplicate JID a@x.org (first at item [0])"),
    ("json", '[{"jid": "a@x.org", "groups": [""]}]', "r.json: item [0]: groups: empty group name"),
    ("json", '[{"jid": "a@x.org", "color": "red"}]', "r.json: item [0]: color: unknown key"),
    ("json", '[{"jid": "a@x.org", "groups": ["G", 3]}]', "r.json: item [0]: groups: expected a list of strings, got a integer"),
    ("json", '[{"jid": 7}]', "r.json: item [0]: jid: expected a string, got integer"),
    ("json", '["a@x.org"]', "r.json: item [0]: expected an object, got string"),
    ("json", '{"jid": "a@x.org"}', "r.json: expected a JSON list"),
    ("json", '[{"jid": "a@x.org",}]', "r.json:1: invalid JSON"),
    # CSV: file:line: field
    ("csv", "jid,name,groups\na@x.org,A,G\nbad jid,B,\n", "r.csv:3: jid: invalid JID"),
    ("csv", "jid,name,groups\na@x.org,A,G\nA@X.ORG,B,\n", "r.csv:3: jid: duplicate JID a@x.org (first at line 2)"),
    ("csv", "jid,name,groups\na@x.org,A,G1;;G2\n", "r.csv:2: groups: empty group name"),
    ("csv", "jid,name,colour\na@x.org,A,red\n", "r.csv:1: colour: unknown column"),
    ("csv", "jid,name,groups\na@x.org,A\n", "r.csv:2: expected 3 fields"),
    ("csv", "name,groups\nA,G\n", "r.csv:1: jid: the header has no jid column"),
    ("csv", "jid,name\na@x.org,\"bell\x07\"\n", "r.csv:2: name:"),
])
def test_malformed_files_name_file_position_and_field(fmt, text, expected):
    with pytest.raises(UsageError) as err:
        parse_roster_text(text, fmt, f"r.{fmt}")
    assert expected in err.value.message


def test_read_from_a_path_reports_the_path_and_reads_csv_rows(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("\ufeffjid,name,groups\r\na@x.org,A,G\r\n", encoding="utf-8")
    assert load_roster_file(str(path)) == ([RosterItem("a@x.org", "A", groups=("G",))], "csv")
    path.write_text("jid,name,groups\na@x.org,A,\nb@,B,\n")
    with pytest.raises(UsageError, match=r"r\.csv:3: jid"):
        read_roster_file(str(path))


def test_missing_file_and_bad_encoding_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        read_roster_file(str(tmp_path / "nope.toml"))
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'[{"jid": "\xff@x.org"}]')
    with pytest.raises(UsageError, match="not valid UTF-8"):
        read_roster_file(str(bad))


def test_stdin_format_is_guessed_from_the_content():
    assert read_roster_file("-", stdin=io.StringIO('[{"jid": "a@x.org"}]')) == [RosterItem("a@x.org")]
    assert read_roster_file("-", stdin=io.StringIO('[[contact]]\njid = "a@x.org"\n')) == [RosterItem("a@x.org")]
    assert read_roster_file("-", stdin=io.StringIO("jid,name\na@x.org,A\n")) == [RosterItem("a@x.org", "A")]


@pytest.mark.parametrize("head,fmt", [
    ("[\n  {\"jid\": 1}]", "json"), ("[]", "json"), ("[[contact]]", "toml"), ("# comment\n", "toml"),
    ('contact = [{jid = "a@x"}]', "toml"), ("jid,name,groups\n", "csv"), ("hello", None), ("", None),
])
def test_sniffing(head, fmt):
    assert sniff_format(head) == fmt


def test_explicit_format_wins_over_extension_and_unknown_ones_are_refused():
    assert format_for("r.txt", "CSV") == "csv"
    assert format_for("r.json") == "json"
    with pytest.raises(UsageError, match="-f toml|json|csv"):
        format_for("r.txt", None, "hello")
    with pytest.raises(UsageError, match="unknown roster file format"):
        format_for("r.toml", "yaml")


def test_export_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "roster.toml"
    target.write_text("old")
    os.chmod(target, 0o640)
    write_roster_path(ITEMS, "toml", target)
    assert read_roster_file(str(target)) == as_imported(ITEMS)
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert [p.name for p in tmp_path.iterdir()] == ["roster.toml"]


class Exploding(list):
    """A roster whose iteration fails half-way, like a full disk during the write."""

    def __iter__(self):
        yield ITEMS[0]
        raise OSError(28, "No space left on device")


def test_failed_export_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "roster.json"
    target.write_text("[]\n")
    with pytest.raises(UsageError, match="No space left"):
        write_roster_path(Exploding(ITEMS), "json", target)
    assert target.read_text() == "[]\n"
    assert [p.name for p in tmp_path.iterdir()] == ["roster.json"]


def test_csv_export_refuses_groups_it_cannot_carry(tmp_path):
    with pytest.raises(UsageError, match="cannot be written to CSV"):
        write_roster_path([RosterItem("a@x.org", groups=("a;b",))], "csv", tmp_path / "r.csv")
    assert not (tmp_path / "r.csv").exists()


def test_backup_names_are_timestamped_and_never_overwrite(tmp_path):
    now = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    first = backup_path(tmp_path, "me@x.org", "toml", now)
    assert first.name == "roster-backup-me@x.org-20240506T070809Z.toml"
    first.write_text("")
    assert backup_path(tmp_path, "me@x.org", "toml", now).name == "roster-backup-me@x.org-20240506T070809Z-1.toml"


def test_a_file_reads_back_whatever_export_wrote_from_the_server():
    """Names and groups other clients stored (long, multi-line, whitespace-only) are restorable."""
    from xmppctl.roster.files import iter_toml, parse_toml

    items = [RosterItem("a@x.org", "é" * 750, groups=("   ", "a\tb")),
             RosterItem("b@x.org", "first\nsecond\r\tthird \x7f\x9b", groups=(" padded ",))]
    assert parse_toml("".join(iter_toml(items)), "bk.toml") == items
