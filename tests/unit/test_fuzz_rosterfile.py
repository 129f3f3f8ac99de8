"""Fuzzing the roster file parsers: any text is a roster or a UsageError naming the file.

Random text, random JSON/TOML values, contact-shaped documents with wrong types, near-valid
files with one character changed, and CSV with random headers and cells.  Directly against
xmppctl.roster.files (only UsageError may escape; what parses is normalised and re-exports
unchanged) and through the in-process CLI pointed at a closed port, where a file is either
rejected (exit 2) or parsed and then cannot connect (exit 4): never 1, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import replace

import pytest
import tomli_w
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.support.fakes import FakeSession
from xmppctl.errors import UsageError
from xmppctl.jid import bare_jid
from xmppctl.roster.files import (
    FORMATS,
    check_exportable,
    parse_roster_text,
    sniff_format,
    write_roster,
)

# database=None: no .hypothesis/ directory in the shared tree; a failure prints its example.
# XMPPCTL_FUZZ_SCALE=N runs N times the examples (a deeper run than the everyday suite's).
SCALE = max(1, int(os.environ.get("XMPPCTL_FUZZ_SCALE", "1") or 1))
FUZZ = settings(max_examples=100 * SCALE, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# everything, surrogates (a JSON "\ud800" escape yields one) and controls included
any_char = st.characters(exclude_categories=())
any_text = st.text(any_char, max_size=60)
# the characters that matter to the parsers and validators, so they come up often
tricky_text = st.text(st.sampled_from(list("ab@./;,\"'\\ \t\n\r=[]{}#\x00\x7f\x85\u00e9\u2028\ufeff\ufffd\uffff\ud800")) | any_char,
                      max_size=30)
jid_like = st.one_of(
    st.sampled_from(["a@x.org", "Zed@X.ORG", "x.org", "a@b", "@x.org", "a@", "a b@x.org", "a@x.org/r",
                     "a@-x.org", "a@x..org", "a@[::1]", "ü@ß.de", "a@x.org.", ""]),
    st.builds(lambda local, domain: f"{local}@{domain}", tricky_text, tricky_text),
    tricky_text,
)
toml_scalars = st.one_of(st.booleans(), st.integers(), st.floats(), tricky_text, st.dates(), st.datetimes())
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), tricky_text)


def values(scalars):
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4),
                        max_leaves=12)


def contacts(scalars):
    """Dicts shaped like a contact, each key present or not, right or wrong in type."""
    anything = values(scalars)
    return st.fixed_dictionaries({}, optional={
        "jid": jid_like | anything,
        "name": tricky_text | anything,
        "groups": st.lists(tricky_text | scalars, max_size=4) | anything,
        "subscription": st.sampled_from(["none", "to", "from", "both", "bogus"]) | anything,
        "ask": st.booleans() | anything,
    }).flatmap(lambda d: st.dictionaries(st.sampled_from(["extra", "Jid", "group"]), scalars, max_size=1).map(lambda x: {**d, **x})
               | st.just(d))


json_documents = st.one_of(st.lists(contacts(json_scalars) | values(json_scalars), max_size=6), values(json_scalars))
toml_documents = st.one_of(
    st.fixed_dictionaries({"contact": st.lists(contacts(toml_scalars), max_size=6)}),
    st.dictionaries(st.sampled_from(["contact", "contacts", "jid", "x"]), values(toml_scalars), max_size=3),
)
csv_cells = st.one_of(jid_like, tricky_text, st.sampled_from(["", ";", "G1;G2", " ; G", "both", "true"]))
csv_headers = st.lists(st.sampled_from(["jid", "name", "groups", "subscription", "ask", "JID", " jid", "other", ""]),
                       min_size=0, max_size=5)


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


csv_documents = st.builds(csv_text, csv_headers, st.lists(st.lists(csv_cells, max_size=5), max_size=6))


@st.composite
def one_char_off(draw, documents):
    """A valid-looking document with one character inserted, deleted or replaced."""
    text = draw(documents)
    assume(text)
    i = draw(st.integers(0, len(text) - 1))
    ch = draw(st.sampled_from(list("\"'[]{},;=\n\\#@ ")) | any_char)
    edit = draw(st.sampled_from(["insert", "delete", "replace"]))
    if edit == "insert":
        return text[:i] + ch + text[i:]
    if edit == "delete":
        return text[:i] + text[i + 1:]
    return text[:i] + ch + text[i + 1:]


def _dumps_json(doc, ascii_only: bool) -> str:
    return json.dumps(doc, ensure_ascii=ascii_only)


def _dumps_toml(doc) -> str:
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError):  # what TOML cannot hold (e.g. a list mixing tables and values)
        assume(False)


def _xep0227_text(doc) -> str:
    """A single-user XEP-0227 document of contact-shaped dicts (values as attribute text)."""
    from xml.sax.saxutils import escape, quoteattr

    items = []
    for contact in doc:
        attrs = " ".join(f"{key}={quoteattr(str(value))}" for key, value in contact.items()
                         if key in ("jid", "name", "subscription", "ask"))
        groups = contact.get("groups")
        children = "".join(f"<group>{escape(str(g))}</group>" for g in groups) if isinstance(groups, list) else ""
        items.append(f"<item {attrs}>{children}</item>")
    return ("<server-data xmlns='urn:xmpp:pie:0'><host jid='x.org'><user name='me'>"
            f"<query xmlns='jabber:iq:roster'>{''.join(items)}</query></user></host></server-data>")


xep0227_documents = st.lists(contacts(json_scalars), max_size=6).map(_xep0227_text)
json_texts = st.one_of(st.builds(_dumps_json, json_documents, st.booleans()), any_text)
toml_texts = st.one_of(toml_documents.map(_dumps_toml), any_text)
texts_by_format = {"json": json_texts, "toml": toml_texts, "csv": csv_documents | any_text,
                   "xep0227": xep0227_documents | any_text}


def check_parse(text: str, fmt: str) -> None:
    """The property: a sorted list of valid, distinct contacts that re-export unchanged, or a UsageError naming the file."""
    name = f"fuzz.{fmt}"
    try:
        items = parse_roster_text(text, fmt, name)
    except UsageError as exc:
        assert str(exc).startswith(name), str(exc)
        return
    jids = [item.jid for item in items]
    assert jids == sorted(set(jids))
    for item in items:
        assert bare_jid(item.jid) == item.jid
        assert item.groups == tuple(sorted(set(item.groups)))
        # everything accepted can go into a UTF-8 XML stanza
        for text_value in (item.jid, item.name or "", *item.groups):
            text_value.encode("utf-8")
    for out_fmt in FORMATS:
        try:
            check_exportable(items, out_fmt)
        except UsageError:
            continue
        buf = io.StringIO()
        write_roster(items, out_fmt, buf, account_jid="me@x.org")
        again = parse_roster_text(buf.getvalue(), out_fmt, f"again.{out_fmt}")
        if out_fmt == "xep0227" or fmt != "xep0227":
            assert again == items
        else:  # only XEP-0227 carries subscription and ask back
            assert again == [replace(item, subscription="none", ask=False) for item in items]


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(data=st.data())
def test_random_text_is_a_roster_or_a_usage_error(fmt, data):
    check_parse(data.draw(texts_by_format[fmt]), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(data=st.data())
def test_near_valid_files_are_a_roster_or_a_usage_error(fmt, data):
    base = {"json": st.builds(_dumps_json, json_documents, st.just(False)),
            "toml": toml_documents.map(_dumps_toml), "csv": csv_documents, "xep0227": xep0227_documents}[fmt]
    check_parse(data.draw(one_char_off(base)), fmt)


@FUZZ
@given(any_text)
def test_sniffing_any_text_gives_a_format_or_none(text):
    assert sniff_format(text) in (*FORMATS, None)


# What the fuzz found (fixed in xmppctl/roster/files/read.py): errors from the parsers' limits and
# text XML cannot carry got past the validation.
@pytest.mark.parametrize("fmt, text, expected", [
    ("json", "[" * 100_000, "nested too deeply"),
    ("toml", "a = " + "[" * 100_000, "nested too deeply"),
    ("json", "1" * 5000, "4300 digits"),
    ("toml", "a = " + "1" * 5000, "4300 digits"),
    ("json", '[{"jid": "a@x.org", "name": "\\ud800"}]', "name: contains U+D800"),
    ("json", '[{"jid": "a@x.org", "groups": ["G\\udfff"]}]', "groups: contains U+DFFF"),
    ("toml", '[[contact]]\njid = "a@x.org"\nname = "\\uFFFF"\n', "fuzz.toml:3: name: contains U+FFFF"),
], ids=["json-deep", "toml-deep", "json-huge-int", "toml-huge-int", "json-surrogate-name", "json-surrogate-group",
        "toml-uffff-name"])
def test_parser_limits_and_text_xml_cannot_carry_are_usage_errors(fmt, text, expected):
    with pytest.raises(UsageError) as caught:
        parse_roster_text(text, fmt, f"fuzz.{fmt}")
    assert expected in str(caught.value) and str(caught.value).startswith(f"fuzz.{fmt}")


# ---- through the CLI ---------------------------------------------------------------------------

ACCOUNT = ["--jid", "fuzz@localhost"]
CLI_FUZZ = settings(max_examples=30 * SCALE, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def file_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8 on disk


@pytest.mark.parametrize("fmt", FORMATS)
@CLI_FUZZ
@given(data=st.data())
@example(data=None)  # a file that parses: proves that a valid file gets through to the session
def test_cli_on_any_file_exits_0_or_2_never_with_a_traceback(cli, tmp_path, fmt, data):
    if data is None:
        text, command, suffix, via_stdin = '[{"jid": "a@x.org"}]', ["roster", "diff"], ".json", False
        fmt = "json"
    else:
        text = data.draw(st.one_of(texts_by_format[fmt], one_char_off(texts_by_format[fmt])), label="text")
        command = data.draw(st.sampled_from([["roster", "import", "--dry-run"], ["roster", "diff"],
                                             ["roster", "import", "--dry-run", "-o", "json"]]), label="command")
        suffix = data.draw(st.sampled_from([f".{fmt}", ""]), label="suffix")  # "": the format is sniffed
        via_stdin = data.draw(st.booleans(), label="stdin")
    path = tmp_path / f"roster{suffix}"
    path.write_bytes(file_bytes(text))
    if via_stdin:
        # the runner's stdin is text: what a UTF-8 terminal would have decoded
        stdin = file_bytes(text).decode("utf-8", "replace")
        target, fmt_args = "-", (["-f", fmt] if suffix else [])
    else:
        stdin, target, fmt_args = None, str(path), []
    fake = FakeSession(bare_jid="fuzz@localhost")  # an empty roster: the file's contacts are all new
    r = cli([*ACCOUNT, *command, target, *fmt_args], session_factory=fake.factory, stdin=stdin or "")
    assert r.code in (0, 2), (r.code, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert fake.sent == [], "a dry run and a diff send nothing"
    if r.code == 2:  # refused input: no session was opened, nothing printed
        assert fake.opened == [] and r.stdout == "", r.stderr
    if data is None:
        assert r.code == 0 and len(fake.opened) == 1, r.stderr
