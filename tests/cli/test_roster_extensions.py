"""Every command that rewrites a roster item sends back what other clients stored on it, against
the fake session, so it runs everywhere (Prosody 0.12 and ejabberd 23 store no such data, so
tests/integration/test_roster_extensions.py skips on both).

The fake stores what went over the wire (``item_element`` of each roster set), so an extension
a command forgot is gone from its roster, as it would be from a server's.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.support.fakes import FakeSession
from xmppctl.roster.items import RosterItem, item_element, set_item

FOREIGN_NS = "urn:example:xmppctl-test:color"
COLOR = f'<color xmlns="{FOREIGN_NS}" shade="dark">teal</color>'
MARK = (f"{{{FOREIGN_NS}}}mark", "yes")
CONTACT = "pal@example.org"
ME = ["--jid", "me@example.org"]


def pal(**changes) -> RosterItem:
    """The contact as another client left it: a name, one group, a foreign child and attribute."""
    fields = {"jid": CONTACT, "name": "Pal", "subscription": "both", "groups": ("Start",),
              "extra_children": (COLOR,), "extra_attrs": (MARK,), **changes}
    return RosterItem(**fields)


def foreign(item: RosterItem) -> tuple:
    """The item's foreign data as the server would see it on the wire."""
    el = item_element(item)
    children = [(c.tag, dict(c.attrib), c.text) for c in el if c.tag.startswith(f"{{{FOREIGN_NS}}}")]
    return children, el.get(MARK[0])


KEPT = ([(f"{{{FOREIGN_NS}}}color", {"shade": "dark"}, "teal")], "yes")


#: (id, argv) of every command that rewrites an existing item; {toml} is a roster file naming it
REWRITES = [
    ("roster-add", ("roster", "add", CONTACT, "--name", "Added")),
    ("roster-set-name", ("roster", "set", CONTACT, "--name", "Set", "--add-group", "Extra")),
    ("roster-set-groups", ("roster", "set", CONTACT, "--no-name", "--group", "Start")),
    ("group-add", ("group", "add", "G1", CONTACT)),
    ("group-remove", ("group", "remove", "G1", CONTACT)),
    ("group-rename", ("group", "rename", "Start", "Renamed")),
    ("group-delete", ("group", "delete", "Renamed", "--yes")),
    ("roster-import", ("roster", "import", "{toml}", "--yes")),
    ("sub-request", ("sub", "request", CONTACT, "--name", "Asked", "--add-group", "Asked")),
]


def _argv(args: tuple[str, ...], tmp_path) -> list[str]:
    toml = tmp_path / "roster.toml"
    toml.write_text(f'[[contact]]\njid = "{CONTACT}"\nname = "Imported"\ngroups = ["Start", "Imp"]\n')
    return ME + [a.format(toml=toml) for a in args] + ["-o", "json"]


def test_the_fake_keeps_only_what_went_over_the_wire():
    import asyncio

    fake = FakeSession()
    asyncio.run(set_item(fake, pal()))
    asyncio.run(set_item(fake, pal(extra_children=(), extra_attrs=())))
    assert foreign(fake.roster[CONTACT]) == ([], None), "a set without the extension drops it, as on a server"


@pytest.mark.parametrize("args", [pytest.param(args, id=name) for name, args in REWRITES])
def test_a_rewriting_command_sends_the_extension_back(args, cli, tmp_path):
    # in the group the command takes it out of, and in another (which keeps it in the roster)
    groups = {("group", "remove"): ("Start", "G1"), ("group", "delete"): ("Start", "Renamed")}.get(args[:2], ("Start",))
    fake = FakeSession.with_roster(pal(groups=groups))
    r = cli(_argv(args, tmp_path), session_factory=fake.factory)
    assert r.code == 0, (args, r.stderr)
    sets = [s[1] for s in fake.roster_writes() if s[0] == "roster-set"]
    assert sets, f"{args}: no roster set was sent"
    assert all(foreign(item) == KEPT for item in sets), (args, [ET.tostring(item_element(i)) for i in sets])
    assert foreign(fake.roster[CONTACT]) == KEPT


def test_every_rewriting_command_in_turn_keeps_the_extension(cli, tmp_path):
    fake = FakeSession.with_roster(pal())
    for _name, args in REWRITES:
        r = cli(_argv(args, tmp_path), session_factory=fake.factory)
        assert r.code == 0, (args, r.stderr)
        assert foreign(fake.roster[CONTACT]) == KEPT, args
    final = fake.roster[CONTACT]
    assert (final.name, final.groups) == ("Asked", ("Asked", "Imp", "Start"))


def test_team_sync_keeps_the_extension_of_a_member_it_adds_to_the_team_group(cli, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("".join(f'[accounts.{n}]\njid = "{n}@example.org"\npassword = "pw"\n' for n in ("a", "b")))
    config.chmod(0o600)
    team = tmp_path / "team.toml"
    team.write_text('group = "Team"\n[[member]]\naccount = "a"\n[[member]]\naccount = "b"\n')
    fakes = {"a": FakeSession.with_roster(pal(jid="b@example.org", name="b"), bare_jid="a@example.org"),
             "b": FakeSession.with_roster(pal(jid="a@example.org", name="a"), bare_jid="b@example.org")}
    r = cli(["--config", str(config), "--timeout", "0.05", "team", "sync", str(team), "-o", "json"],
            session_factory=lambda st, **kw: fakes[st.account].factory(st, **kw))
    assert r.code in (0, 7), r.stderr  # the fakes do not answer each other's handshakes: 7, not converged
    for name, fake in fakes.items():
        sets = [s[1] for s in fake.roster_writes() if s[0] == "roster-set"]
        assert sets and all(foreign(item) == KEPT for item in sets), name
        other = "b" if name == "a" else "a"
        assert fake.roster[f"{other}@example.org"].groups == ("Start", "Team")
