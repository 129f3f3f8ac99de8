"""The one validator for text that goes into stanzas (command-line options and roster files)."""

from __future__ import annotations

import os

import pytest

from xmppctl.errors import UsageError
from xmppctl.text import check_text, validate_group, validate_groups, validate_name, validate_nick, validate_status

UNDECODABLE = os.fsdecode(b"caf\xe9")  # Latin-1 bytes in a UTF-8 locale: 'caf\udce9'

ONE_LINE_BAD = ["tab\there", "new\nline", "cr\rhere", "bell\x07", "nul\x00", "esc\x1b[31m", "del\x7f",
                "lone \ud800", "nonchar \ufffe", "nonchar \uffff", UNDECODABLE]


@pytest.mark.parametrize("validate", [validate_name, validate_group, validate_nick], ids=["name", "group", "nick"])
@pytest.mark.parametrize("bad", ONE_LINE_BAD)
def test_one_line_fields_refuse_every_control_and_what_xml_cannot_carry(validate, bad):
    with pytest.raises(UsageError) as err:
        validate(bad, "--opt")
    assert err.value.message.startswith("--opt: contains U+")
    assert "\n" not in err.value.message


@pytest.mark.parametrize("bad", ["bell\x07", "nul\x00", "esc\x1b", "vt\x0b", "lone \udfff", "nonchar \uffff", UNDECODABLE])
def test_status_refuses_what_xml_cannot_carry(bad):
    with pytest.raises(UsageError, match=r"^--status: contains U\+"):
        validate_status(bad, "--status")


def test_status_keeps_the_controls_xml_allows_and_del():
    text = "line one\n\tline two\r\nend \x7f é \u202e"
    assert validate_status(text) == text


def test_undecodable_argument_bytes_are_named_as_such():
    with pytest.raises(UsageError) as err:
        validate_name(UNDECODABLE, "--name")
    assert err.value.message == "--name: contains U+DCE9, the argument is not valid UTF-8 (an undecodable byte)"


def test_ordinary_unicode_passes():
    for text in ("Bob", "Ünïcode Ĝroup", "日本語", "emoji 🎉", "a\u00a0b", "right\u202eto-left"):
        assert check_text(text, "x") == text


def test_lengths_are_counted_in_utf8_bytes():
    assert validate_name("é" * 511) == "é" * 511  # 1022 bytes
    with pytest.raises(UsageError, match="longer than 1023 bytes"):
        validate_name("é" * 512)
    assert len(validate_status("x" * 1024)) == 1024
    with pytest.raises(UsageError, match="longer than 1024 bytes"):
        validate_status("x" * 1025)


def test_empty_means_none_for_name_and_nick_but_is_refused_as_group():
    assert validate_name("") is None and validate_name(None) is None
    assert validate_nick("") is None and validate_status(None) is None
    for bad in ("", "   "):
        with pytest.raises(UsageError, match="empty group name"):
            validate_group(bad, "GROUP")


def test_non_strings_are_refused():
    with pytest.raises(UsageError, match="expected a string, got int"):
        validate_name(5)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="expected a string"):
        validate_group(None)  # type: ignore[arg-type]


def test_groups_deduplicated_sorted_and_each_checked():
    assert validate_groups(["b", "a", "b"]) == ("a", "b")
    with pytest.raises(UsageError, match="^--group: contains U\\+000A"):
        validate_groups(["ok", "bad\nrow"], "--group")
