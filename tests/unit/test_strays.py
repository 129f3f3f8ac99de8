"""StrayKeeper: messages that reach a session are kept and reported, never dropped."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from xmppctl.xmpp.keeper import StrayKeeper, describe, has_content


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


def _deep_message(depth: int = 1000) -> ET.Element:
    nested = "<x xmlns='urn:example:deep'>" * depth + "</x>" * depth
    return msg(f"<message from='bob@example.org/x' type='chat' id='d1'><subject>s</subject><body>deep hi</body>"
               f"{nested}</message>")


def test_message_that_cannot_be_serialised_is_still_kept_and_reported(tmp_path):
    k, events = keeper(tmp_path)
    assert k(_deep_message()) is True
    record = json.loads((tmp_path / "d" / "kept.ndjson").read_text())
    assert (record["from"], record["type"], record["subject"], record["body"]) == ("bob@example.org/x", "chat", "s", "deep hi")
    assert record["xml"] is None and "RecursionError" in record["xml_error"]
    assert [(e["from"], e["body"], e["kept_in"]) for e in events] == [("bob@example.org/x", "deep hi", str(k.path))]
    assert "could not be serialised" in describe(events[0]) and k.kept == 1


def test_unserialisable_message_is_reported_even_when_the_keep_file_cannot_be_written(tmp_path):
    (tmp_path / "d").write_text("a file where the directory should be")
    k, events = keeper(tmp_path)
    assert k(_deep_message()) is True
    assert events[0]["kept_in"] is None and events[0]["body"] == "deep hi"
    assert "NOT kept" in describe(events[0]) and "deep hi" in describe(events[0])


def test_keep_file_behind_a_symlink_is_refused_and_the_target_untouched(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "kept.ndjson").symlink_to(target)
    k, events = keeper(tmp_path)
    assert k(msg("<message from='bob@example.org/x'><body>hi</body></message>")) is True
    assert target.read_text() == "precious\n"
    assert events[0]["kept_in"] is None and "symbolic link" in events[0]["keep_error"]
    assert "hi" in describe(events[0])


def test_keep_file_with_a_wider_mode_is_narrowed_to_0600(tmp_path):
    import os
    import stat

    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "kept.ndjson"
    path.write_text("")
    path.chmod(0o644)
    k, _ = keeper(tmp_path)
    k(msg("<message from='bob@example.org/x'><body>hi</body></message>"))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and k.kept == 1


def test_keep_file_owned_by_another_user_is_refused(tmp_path):
    import os

    import pytest

    if os.geteuid() != 0:
        pytest.skip("needs root to give the file to another user")
    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "kept.ndjson"
    path.write_text("")
    os.chown(path, 4242, 4242)
    k, events = keeper(tmp_path)
    k(msg("<message from='bob@example.org/x'><body>hi</body></message>"))
    assert path.read_text() == "" and "owned by uid 4242" in events[0]["keep_error"]


def test_report_in_a_fleet_run_names_the_account(tmp_path):
    k, events = keeper(tmp_path, label="work")
    k(msg("<message from='bob@example.org/x'><body>hi</body></message>"))
    assert events[0]["account"] == "work" and describe(events[0]).startswith("work: message from bob@example.org/x")
    pres = ET.fromstring("<presence xmlns='jabber:client' from='eve@spam.example' type='subscribe'/>")
    k(pres)
    assert events[1]["account"] == "work" and describe(events[1]).startswith("work: subscription request")
