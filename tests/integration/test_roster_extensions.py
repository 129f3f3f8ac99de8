"""Roster items keep what other clients stored on them: every rewriting command sends it back.

A foreign child element is stored by a raw roster set (as another client would), then each
command that rewrites the item runs and the child must still be there.  What each server
does with such children is recorded in docs/protocol-notes.md.  Neither Prosody 0.12 nor
ejabberd 23 stores them, so these skip there; tests/cli/test_roster_extensions.py checks the
same commands against the fake session, which keeps what went over the wire.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import pytest

from tests.integration.test_roster_apply import account_for
from xmppctl.xmpp.ns import ROSTER_NS
from xmppctl.xmpp.session import open_session


def NO_STRAYS_EXPECTED(xml) -> bool:  # noqa: N802 - no message reaches these sessions; none is kept
    return False


FOREIGN_NS = "urn:example:xmppctl-test:color"
CONTACT = "pal@example.org"


def _query(*items: ET.Element) -> ET.Element:
    query = ET.Element(f"{{{ROSTER_NS}}}query")
    query.extend(items)
    return query


def store_foreign_child(user, jid: str = CONTACT) -> None:
    """A raw roster set, as another client would send it: name, one group and a foreign child."""
    item = ET.Element(f"{{{ROSTER_NS}}}item", {"jid": jid, "name": "Pal"})
    ET.SubElement(item, f"{{{ROSTER_NS}}}group").text = "Start"
    color = ET.SubElement(item, f"{{{FOREIGN_NS}}}color", {"shade": "dark"})
    color.text = "teal"

    async def go():
        async with open_session(account_for(user), user.password, keeper=NO_STRAYS_EXPECTED) as s:
            await s.query("set", _query(item), what="raw roster set")

    asyncio.run(go())


def raw_item(user, jid: str = CONTACT) -> ET.Element | None:
    """The server's <item/> for *jid* in a roster get, untouched by xmppctl's parser."""
    async def go():
        async with open_session(account_for(user), user.password, keeper=NO_STRAYS_EXPECTED) as s:
            result = await s.query("get", _query(), what="raw roster get")
        return result.find(f"{{{ROSTER_NS}}}query")

    query = asyncio.run(go())
    for item in query.iterfind(f"{{{ROSTER_NS}}}item"):
        if item.get("jid") == jid:
            return item
    return None


def foreign_child(item: ET.Element | None) -> tuple[str | None, str | None] | None:
    child = None if item is None else item.find(f"{{{FOREIGN_NS}}}color")
    return None if child is None else (child.get("shade"), child.text)


@pytest.fixture
def stored(make_user, xmpp_server):
    user = make_user()
    store_foreign_child(user)
    found = foreign_child(raw_item(user))
    if found is None:
        pytest.skip(f"{xmpp_server.kind} does not store unknown child elements of roster items at all "
                    "(see docs/protocol-notes.md): nothing to preserve")
    assert found == ("dark", "teal")
    return user


def _commands(tmp_path) -> list[tuple[str, ...]]:
    toml = tmp_path / "roster.toml"
    toml.write_text(f'[[contact]]\njid = "{CONTACT}"\nname = "Imported"\ngroups = ["Start", "Imp"]\n')
    return [
        ("roster", "add", CONTACT, "--name", "Added"),
        ("roster", "set", CONTACT, "--name", "Set", "--add-group", "Extra"),
        ("roster", "set", CONTACT, "--no-name", "--group", "Start"),
        ("group", "add", "G1", CONTACT),
        ("group", "remove", "G1", CONTACT),
        ("group", "rename", "Start", "Renamed"),
        ("group", "delete", "Renamed"),
        ("roster", "import", str(toml)),
    ]


def test_every_rewriting_command_keeps_foreign_child_elements(stored, run_cli, tmp_path):
    for args in _commands(tmp_path):
        r = run_cli(stored, *args, "-o", "json")
        assert r.code == 0, (args, r.stderr)
        assert all(row["action"] in ("add", "update") and row["ok"] for row in r.json()), (args, r.stdout)
        item = raw_item(stored)
        assert foreign_child(item) == ("dark", "teal"), (args, ET.tostring(item, encoding="unicode"))
    item = raw_item(stored)
    assert item.get("name") == "Imported"
    assert sorted(g.text for g in item.iterfind(f"{{{ROSTER_NS}}}group")) == ["Imp", "Start"]


def test_subscription_request_with_name_and_group_keeps_foreign_child_elements(make_user, xmpp_server, run_cli):
    user, other = make_user(), make_user()
    store_foreign_child(user, other.jid)
    if foreign_child(raw_item(user, other.jid)) is None:
        pytest.skip(f"{xmpp_server.kind} does not store unknown child elements of roster items at all "
                    "(see docs/protocol-notes.md): nothing to preserve")
    r = run_cli(user, "sub", "request", other.jid, "--name", "Other", "--add-group", "Asked", "-o", "json")
    assert r.code == 0, r.stderr
    item = raw_item(user, other.jid)
    assert foreign_child(item) == ("dark", "teal"), ET.tostring(item, encoding="unicode")
    assert item.get("name") == "Other" and item.get("ask") == "subscribe"
    assert sorted(g.text for g in item.iterfind(f"{{{ROSTER_NS}}}group")) == ["Asked", "Start"]
