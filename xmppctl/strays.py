"""Stanzas that reach a session although no command asked for them: never dropped silently.

A short xmppctl session is not where the account's messages belong, but a server may still
hand it some: stored offline messages after an initial presence it considers eligible (see
docs/protocol-notes.md, "Offline messages"), a message sent to the session's full JID, a
subscription request pushed while the session is online.  Whatever the command does, each
such stanza is reported (sender; the body of a message) and every message is appended to a
keep file, one JSON object per line, so that nothing a contact wrote is lost:

    ${XDG_DATA_HOME:-~/.local/share}/xmppctl/received-messages.ndjson   (mode 0600)

The keeper runs inside the stream parser, so it only writes and calls the reporter; it
never raises into the parser (a failure to write the file is reported instead).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

CLIENT_NS = "jabber:client"
MESSAGE_TAG = f"{{{CLIENT_NS}}}message"
PRESENCE_TAG = f"{{{CLIENT_NS}}}presence"
NICK_NS = "http://jabber.org/protocol/nick"
#: payloads that carry nothing a person wrote (typing notifications, delivery receipts)
_NO_CONTENT_NS = ("http://jabber.org/protocol/chatstates", "urn:xmpp:receipts", "urn:xmpp:chat-markers:0")
KEEP_FILE_NAME = "received-messages.ndjson"

#: what a reporter receives: {"event": "message"|"subscription-request", "from": ..., ...}
Report = Callable[[dict[str, Any]], None]


def default_keep_path(env: Mapping[str, str] | None = None) -> Path:
    """Where kept messages go: $XDG_DATA_HOME/xmppctl (default ~/.local/share/xmppctl)."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "xmppctl" / KEEP_FILE_NAME


def has_content(message: ET.Element) -> bool:
    """True unless the message only carries typing notifications, receipts or markers."""
    for child in message:
        ns = child.tag[1:].partition("}")[0] if child.tag.startswith("{") else ""
        if ns not in _NO_CONTENT_NS:
            return True
    return False


def _serialize(el: ET.Element) -> str:
    """The stanza as XML text with jabber:client as the default namespace, as on the wire."""
    from .session import stanza_text

    return stanza_text(el)


def _text(el: ET.Element, tag: str) -> str | None:
    child = el.find(tag)
    return child.text if child is not None and child.text else None


@dataclass
class StrayKeeper:
    """Reports and keeps messages (and reports subscription requests) that reach a session.

    *report* is called with one dict per stray; *subscriptions_expected* is set by commands
    whose output already lists subscription requests (``sub pending``, ``presence watch``).
    """

    account: str
    report: Report
    path: Path = field(default_factory=default_keep_path)
    subscriptions_expected: bool = False
    session_jid: str | None = None
    #: messages kept in this session (for the command's own summary and tests)
    kept: int = 0

    def __call__(self, xml: ET.Element) -> bool:
        """Look at one incoming top-level element; True when it was a message (consumed here)."""
        try:
            return self._look(xml)
        except Exception as exc:  # never raise into the parser; the last resort is the raw stanza on stderr
            if xml.tag != MESSAGE_TAG:
                return False
            import sys

            try:
                sys.stderr.write(f"xmppctl: message reached this session and could not be kept ({exc}): "
                                 f"{_safe(_serialize(xml), None)}\n")
            except Exception:
                pass
            return True

    def _look(self, xml: ET.Element) -> bool:
        if xml.tag == MESSAGE_TAG:
            if has_content(xml):
                self._keep_message(xml)
            return True
        if xml.tag == PRESENCE_TAG and xml.get("type") == "subscribe" and not self.subscriptions_expected:
            self.report({"event": "subscription-request", "from": xml.get("from"),
                         "nick": _text(xml, f"{{{NICK_NS}}}nick"), "message": _text(xml, f"{{{CLIENT_NS}}}status"),
                         "note": "not answered; it stays pending where the server keeps it (see `xmppctl sub pending`)"})
        return False

    def _keep_message(self, xml: ET.Element) -> None:
        record = {
            "received_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "account": self.account,
            "session": self.session_jid,
            "from": xml.get("from"),
            "to": xml.get("to"),
            "type": xml.get("type") or "normal",
            "id": xml.get("id"),
            "subject": _text(xml, f"{{{CLIENT_NS}}}subject"),
            "body": _text(xml, f"{{{CLIENT_NS}}}body"),
            "xml": _serialize(xml),
        }
        event: dict[str, Any] = {"event": "message", "from": record["from"], "type": record["type"],
                                 "subject": record["subject"], "body": record["body"], "kept_in": str(self.path)}
        try:
            self._append(record)
            self.kept += 1
        except OSError as exc:  # still reported, with the whole stanza, so nothing is lost silently
            event["kept_in"] = None
            event["keep_error"] = f"cannot write {self.path}: {exc.strerror or exc}"
            event["xml"] = record["xml"]
        self.report(event)

    def _append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if created:  # the new file's name must survive a crash too
            from .fsutil import fsync_dir

            fsync_dir(self.path.parent)


_MAX_SHOWN = 300


def _safe(text: str | None, limit: int | None = _MAX_SHOWN) -> str:
    """Terminal-safe, one line (the escaping of tables, output.safe_text), long text cut."""
    if text is None:
        return ""
    from .output import safe_text

    out = safe_text(text)
    return out if limit is None or len(out) <= limit else out[:limit] + "…"


def describe(event: Mapping[str, Any]) -> str:
    """One human line for a stray-stanza event."""
    sender = _safe(event.get("from")) or "(no sender)"
    if event.get("event") == "subscription-request":
        extra = f" (nick {_safe(event['nick'])!r})" if event.get("nick") else ""
        return f"subscription request from {sender}{extra} reached this session; {event.get('note')}"
    where = f"kept in {event['kept_in']}" if event.get("kept_in") else f"NOT kept ({_safe(event.get('keep_error'))}): {_safe(event.get('xml'), None)}"
    body = event.get("body")
    what = f": {_safe(body)!s}" if body is not None else (f" (subject {_safe(event.get('subject'))})" if event.get("subject") else " (no body)")
    return f"message from {sender} reached this session, {where}{what}"


def stderr_report(event: Mapping[str, Any]) -> None:
    """The default reporter: one ``xmppctl: ...`` line on stderr per stray."""
    import sys

    try:
        sys.stderr.write(f"xmppctl: {describe(event)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr gone: the keep file still has the message
        pass


def json_stderr_report(event: Mapping[str, Any]) -> None:
    """The reporter for -o json/ndjson: one JSON object per line on stderr."""
    import sys

    try:
        sys.stderr.write(json.dumps(dict(event), ensure_ascii=False) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
