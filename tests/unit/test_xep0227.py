"""XEP-0227 roster files: the layouts ejabberd and Prosody write, safety, validation, round trip."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest

from xmppctl.errors import UsageError
from xmppctl.roster.items import RosterItem
from xmppctl.roster.files import load_roster_source, write_roster
from xmppctl.roster.files.xep0227 import parse_pie, read_pie_file

#: what `ejabberdctl export_piefxis DIR` wrote on ejabberd 23.01 (credentials shortened):
#: a server-data file including one file per host
EJABBERD_INDEX = ("<?xml version='1.0' encoding='UTF-8'?><server-data xmlns='urn:xmpp:pie:0' "
                  "xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='20261204-161417_localhost.xml'/>"
                  "</server-data>")
EJABBERD_HOST = (
    "<?xml version='1.0' encoding='UTF-8'?><host xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude' "
    "jid='localhost'><user name='alice'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>"
    "<iter-count>4096</iter-count><salt>c2VjcmV0LXNhbHQ=</salt><server-key>U0VDUkVUU0VSVkVSS0VZ</server-key>"
    "<stored-key>U0VDUkVUU1RPUkVES0VZ</stored-key></scram-credentials><query xmlns='jabber:iq:roster'>"
    "<item subscription='both' name='Bob B' jid='bob@localhost'><group>Friends</group><group>Work</group></item>"
    "<item ask='subscribe' subscription='to' jid='carol@ext.example'/></query>"
    "<presence to='alice@localhost' from='dave@ext.example' type='subscribe' xmlns='jabber:client'/></user>"
    "<user name='bob'><password>hunter2-plain</password></user></host>")

#: Prosody's mod_storage_xep0227 (0.12): one <user>@<host>.xml per user, presence without a
#: namespace of its own (so in urn:xmpp:pie:0), a version attribute on the roster query
PROSODY_USER = """<server-data xmlns='urn:xmpp:pie:0'><host jid='example.net'><user name='erin'>\
<scram-credentials mechanism='SCRAM-SHA-1' xmlns='urn:xmpp:pie:0#scram'><iter-count>10000</iter-count>\
<salt>c2FsdA==</salt><server-key>a2V5</server-key><stored-key>a2V5</stored-key></scram-credentials>\
<query version='3' xmlns='jabber:iq:roster'><item subscription='from' jid='frank@example.net' name='Frank'>\
<group>Family</group></item></query><presence type='subscribe' from='gina@example.org'/></user></host></server-data>"""


def _ejabberd_dump(tmp_path):
    (tmp_path / "20261204-161417.xml").write_text(EJABBERD_INDEX)
    (tmp_path / "20261204-161417_localhost.xml").write_text(EJABBERD_HOST)
    return tmp_path / "20261204-161417.xml"


def test_ejabberd_export_with_xinclude_reads_every_user(tmp_path):
    pie = read_pie_file(_ejabberd_dump(tmp_path))
    assert pie.users == ["alice@localhost", "bob@localhost"]
    alice = pie.user("alice@localhost")
    assert alice.items == (RosterItem("bob@localhost", "Bob B", "both", False, ("Friends", "Work")),
                           RosterItem("carol@ext.example", None, "to", True, ()))
    assert alice.pending_in == ("dave@ext.example",)
    assert alice.orphan_requests() == ["dave@ext.example"]


def test_multi_user_file_needs_the_account_or_user(tmp_path):
    path = str(_ejabberd_dump(tmp_path))
    assert load_roster_source(path, account_jid="alice@localhost").user == "alice@localhost"
    assert load_roster_source(path, user="bob@localhost", account_jid="alice@localhost").items == []
    with pytest.raises(UsageError) as err:
        load_roster_source(path, account_jid="zed@localhost")
    assert "zed@localhost" in err.value.message and "alice@localhost, bob@localhost" in err.value.message
    # only the picked user's roster is validated: a bad item of another account does not matter
    (tmp_path / "20261204-161417_localhost.xml").write_text(EJABBERD_HOST.replace("<password>", "<query xmlns='jabber:iq:roster'><item jid='@bad'/></query><password>"))
    assert load_roster_source(path, account_jid="alice@localhost").user == "alice@localhost"
    with pytest.raises(UsageError, match="item.1.: jid"):
        load_roster_source(path, user="bob@localhost")


def test_credentials_are_never_kept_nor_echoed(tmp_path):
    path = _ejabberd_dump(tmp_path)
    pie = read_pie_file(path)
    assert "hunter2" not in repr(pie) and "c2VjcmV0" not in repr(pie)
    assert all("hunter2" not in ET.tostring(el, encoding="unicode") and "c2VjcmV0" not in ET.tostring(el, encoding="unicode")
               for _tree, el, _place in pie._users.values())
    bad = tmp_path / "bad.xml"
    bad.write_text(EJABBERD_HOST.replace("<host ", "<server-data xmlns='urn:xmpp:pie:0'><host ", 1)
                   .replace("</host>", "</host></server-data>").replace("jid='bob@localhost'", "jid='b@d@x'"))
    with pytest.raises(UsageError) as err:
        read_pie_file(bad).select(account_jid="alice@localhost")
    assert "hunter2" not in err.value.message and "c2VjcmV0" not in err.value.message
    assert err.value.message.startswith(f"{bad}:1: user[@name='alice']/query/item[1]: jid: ")


def test_prosody_storage_file_and_old_namespace_read():
    erin = parse_pie(PROSODY_USER, "erin@example.net.xml").select()
    assert erin.jid == "erin@example.net"
    assert erin.items == (RosterItem("frank@example.net", "Frank", "from", False, ("Family",)),)
    assert erin.pending_in == ("gina@example.org",)
    old = PROSODY_USER.replace("urn:xmpp:pie:0'", "http://www.xmpp.org/extensions/xep-0227.html#ns'", 1)
    assert parse_pie(old, "old.xml").select().items == erin.items


@pytest.mark.parametrize("href", ["/etc/passwd", "../outside.xml", "http://127.0.0.1/x.xml", "file:///etc/passwd",
                                  "sub/../../outside.xml"])
def test_xinclude_outside_the_directory_or_remote_is_refused(tmp_path, href):
    (tmp_path / "outside.xml").write_text(EJABBERD_HOST)
    inner = tmp_path / "dump"
    inner.mkdir()
    index = inner / "index.xml"
    index.write_text(EJABBERD_INDEX.replace("20261204-161417_localhost.xml", href))
    with pytest.raises(UsageError) as err:
        read_pie_file(index)
    assert "href" in err.value.message


def test_doctype_and_entities_are_refused():
    bomb = ("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;'>]>"
            "<server-data xmlns='urn:xmpp:pie:0'>&b;</server-data>")
    with pytest.raises(UsageError, match="document type declaration"):
        parse_pie(bomb, "bomb.xml")
    external = "<?xml version='1.0'?><!DOCTYPE x SYSTEM 'http://127.0.0.1/x.dtd'><server-data xmlns='urn:xmpp:pie:0'/>"
    with pytest.raises(UsageError, match="document type declaration"):
        parse_pie(external, "ext.xml")


@pytest.mark.parametrize("change, field", [
    ("subscription='from'", "subscription"),
    ("subscription='pending'", "subscription"),
    ("ask='maybe'", "ask"),
])
def test_bad_item_attributes_name_the_field(change, field):
    text = PROSODY_USER.replace("subscription='from'", change)
    if change.startswith("ask"):
        text = PROSODY_USER.replace("subscription='from'", "subscription='from' " + change)
    if change == "subscription='from'":
        text = text.replace("<group>Family</group>", "<group></group>")
        field = "groups"
    with pytest.raises(UsageError) as err:
        parse_pie(text, "f.xml").select()
    assert err.value.message.startswith("f.xml:1: user[@name='erin']/query/item[1]: " + field)


def test_not_xep0227_and_invalid_xml_are_usage_errors():
    with pytest.raises(UsageError, match="expected <server-data"):
        parse_pie("<roster/>", "r.xml")
    with pytest.raises(UsageError, match=r"r.xml:2: invalid XML"):
        parse_pie("<server-data xmlns='urn:xmpp:pie:0'>\n<host></server-data>", "r.xml")


def test_export_round_trips_with_subscription_ask_and_pending():
    items = [RosterItem("a@x.example", "Ann <&> 'A'", "both", False, ("G1", "x&y")),
             RosterItem("b@x.example", None, "none", True, ())]
    out = io.StringIO()
    write_roster(items, "xep0227", out, account_jid="me@home.example", pending_in=["c@y.example"])
    user = parse_pie(out.getvalue(), "x.xml").select()
    assert user.jid == "me@home.example"
    assert list(user.items) == items
    assert user.pending_in == ("c@y.example",)
    assert "password" not in out.getvalue() and "credentials" not in out.getvalue()


def test_format_is_detected_from_content_and_extension(tmp_path):
    path = tmp_path / "export"
    path.write_text(PROSODY_USER)
    assert load_roster_source(str(path)).format == "xep0227"
    assert load_roster_source("-", stdin=io.StringIO(PROSODY_USER)).pending_in == ("gina@example.org",)
    with pytest.raises(UsageError, match="--user"):
        load_roster_source("-", stdin=io.StringIO('[[contact]]\njid = "a@b.c"\n'), user="a@b.c")
