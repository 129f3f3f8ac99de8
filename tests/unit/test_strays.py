"""StrayKeeper: messages that reach a session are kept and reported, never dropped."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from xmppctl.strays import StrayKeeper, describe, has_content


def msg(xml: str) -> ET.Element:
    return ET.fromstring(xml.replace("<message ", "<message xmlns='jabber:client' ", 1))


def keeper(tmp_path, **kw):
    events: list[dict] = []
    k = StrayKeeper("alice@example.org", events.append, path=tmp_path / "d" / "kept.ndjson", **kw)
    return k, events


def test_message_with_body_is_kept_and_reported(tmp_path):
    k, events = keeper(tmp_path)
    assert k(msg("<message from='bob@example.org/x' type='chat' id='1'><body>hi</body></message>")) is True
    record = json.loads((tmp_path / "d" / "kept.ndjson").read_text())
    assert (record["from"], record["body"], record["account"], record["type"]) == ("bob@example.org/x", "hi", "alice@example.org", "chat")
    assert events == [{"event": "message", "from": "bob@example.org/x", "type": "chat", "subject": None,
                       "body": "hi", "kept_in": str(tmp_path / "d" / "kept.ndjson")}]
    assert k.kept == 1


def test_typing_notification_is_consumed_without_a_report(tmp_path):
    k, events = keeper(tmp_path)
    assert k(msg("<message from='bob@example.org/x'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>"))
    assert events == [] and not (tmp_path / "d" / "kept.ndjson").exists()


def test_unknown_payload_without_body_is_still_kept(tmp_path):
    assert has_content(msg("<message from='a@b'><x xmlns='jabber:x:conference' jid='room@muc.b'/></message>"))


def test_unwritable_keep_file_reports_the_whole_stanza(tmp_path):
    (tmp_path / "d").write_text("a file where the directory should be")
    k, events = keeper(tmp_path)
    assert k(msg("<message from='bob@example.org/x'><body>rescue me</body></message>")) is True
    assert events[0]["kept_in"] is None and "rescue me" in events[0]["xml"] and "cannot write" in events[0]["keep_error"]
    assert "NOT kept" in describe(events[0]) and "rescue me" in describe(events[0])


def test_subscription_request_is_reported_unless_the_command_lists_them(tmp_path):
    pres = ET.fromstring("<presence xmlns='jabber:client' from='eve@spam.example' type='subscribe'>"
                         "<nick xmlns='http://jabber.org/protocol/nick'>Eve</nick></presence>")
    k, events = keeper(tmp_path)
    assert k(pres) is False  # presence goes on to the command's own handlers
    assert [(e["event"], e["from"], e["nick"]) for e in events] == [("subscription-request", "eve@spam.example", "Eve")]
    k2, events2 = keeper(tmp_path, subscriptions_expected=True)
    assert k2(pres) is False and events2 == []


def test_report_line_escapes_what_could_drive_the_terminal():
    line = describe({"event": "message", "from": "bob@x/\u202eevil", "body": "a\nxmppctl: forged\x1b[2J", "kept_in": "/k"})
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
    assert "\\n" in line and "\\x1b" in line and "\\u202e" in line
