"""Stanzas that reach a session although no command asked for them: never dropped silently.

A short xmppctl session is not where the account's messages belong, but a server may still
hand it some: stored offline messages after an initial presence it considers eligible (see
docs/protocol-notes.md, "Offline messages"), a message sent to the session's full JID, a
subscription request pushed while the session is online.  Whatever the command does, each
such stanza is reported (sender; the body of a message) and every message is appended to a
keep file, one JSON object per line, so that nothing a contact wrote is lost:

    ${XDG_DATA_HOME:-~/.local/share}/xmppctl/received-messages.ndjson   (mode 0600)

The keeper runs inside the stream parser, so it only writes and calls the reporter; it
never raises into the parser (a failure to write the file is reported instead).  A message
that cannot be serialised whole (a hostile stanza nested a thousand levels deep) is still kept
and reported with its sender, type, subject and body.  The keep file is opened without
following a symbolic link, must belong to the user, and is set to mode 0600 whatever it had.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from .ns import CLIENT_NS, NICK_NS, NO_CONTENT_NS

MESSAGE_TAG = f"{{{CLIENT_NS}}}message"
PRESENCE_TAG = f"{{{CLIENT_NS}}}presence"
#: payloads that carry nothing a person wrote (typing notifications, delivery receipts)
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
        if ns not in NO_CONTENT_NS:
            return True
    return False


def _serialize(el: ET.Element) -> str:
    """The stanza as XML text with jabber:client as the default namespace, as on the wire."""
    from .stanza import stanza_text

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
    #: the account's name when the run has several accounts: every report carries it ("account")
    label: str | None = None
    #: messages kept in this session (for the command's own summary and tests)
    kept: int = 0

    def __call__(self, xml: ET.Element) -> bool:
        """Look at one incoming top-level element; True when it was a message (consumed here)."""
        try:
            return self._look(xml)
        except Exception as exc:  # never raise into the parser; still say what arrived
            if xml.tag != MESSAGE_TAG:
                return False
            self._send({**self._summary(xml), "kept_in": None,
                        "keep_error": f"could not be kept ({type(exc).__name__}: {exc})"})
            return True

    def _summary(self, xml: ET.Element) -> dict[str, Any]:
        """What a report says about a message: read from its top level only, never serialised."""
        event: dict[str, Any] = {"event": "message"}
        if self.label is not None:
            event["account"] = self.label
        event.update({"from": xml.get("from"), "type": xml.get("type") or "normal",
                      "subject": _text(xml, f"{{{CLIENT_NS}}}subject"), "body": _text(xml, f"{{{CLIENT_NS}}}body")})
        return event

    def _send(self, event: dict[str, Any]) -> None:
        try:
            self.report(event)
        except Exception:  # a reporter must not take the parser down either
            pass

    def _look(self, xml: ET.Element) -> bool:
        if xml.tag == MESSAGE_TAG:
            if has_content(xml):
                self._keep_message(xml)
            return True
        if xml.tag == PRESENCE_TAG and xml.get("type") == "subscribe" and not self.subscriptions_expected:
            where = {"account": self.label} if self.label is not None else {}
            self._send({"event": "subscription-request", **where, "from": xml.get("from"),
                         "nick": _text(xml, f"{{{NICK_NS}}}nick"), "message": _text(xml, f"{{{CLIENT_NS}}}status"),
                         "note": "not answered; it stays pending where the server keeps it (see `xmppctl sub pending`)"})
        return False

    def _keep_message(self, xml: ET.Element) -> None:
        event = self._summary(xml)
        try:
            raw: str | None = _serialize(xml)
        except Exception as exc:  # e.g. RecursionError: ~1000 nested elements; keep what can be read
            raw = None
            event["xml_error"] = f"the whole stanza could not be serialised ({type(exc).__name__})"
        record = {
            "received_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "account": self.account,
            "session": self.session_jid,
            "from": event["from"],
            "to": xml.get("to"),
            "type": event["type"],
            "id": xml.get("id"),
            "subject": event["subject"],
            "body": event["body"],
            "xml": raw,
        }
        if raw is None:
            record["xml_error"] = event["xml_error"]
        event["kept_in"] = str(self.path)
        try:
            self._append(record)
            self.kept += 1
        except (OSError, ValueError) as exc:  # still reported, with the whole stanza, so nothing is lost silently
            event["kept_in"] = None
            event["keep_error"] = f"cannot write {self.path}: {getattr(exc, 'strerror', None) or exc}"
            event["xml"] = raw
        self._send(event)

    def _append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = not self.path.exists()
        fd = open_keep_file(self.path)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if created:  # the new file's name must survive a crash too
            from ..fsutil import fsync_dir

            fsync_dir(self.path.parent)


def open_keep_file(path: Path) -> int:
    """*path* opened for appending: created 0600; never through a symbolic link (nor a FIFO or
    device); refused when another user owns it; an existing wider mode is narrowed to 0600."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "it is a symbolic link; refusing to follow it") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_uid != os.geteuid():
            raise OSError(errno.EPERM, f"owned by uid {info.st_uid}, not by this user")
        if stat.S_IMODE(info.st_mode) != 0o600:
            os.fchmod(fd, 0o600)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


_MAX_SHOWN = 300


def _safe(text: str | None, limit: int | None = _MAX_SHOWN) -> str:
    """Terminal-safe, one line (the escaping of tables, output.safe_text), long text cut."""
    if text is None:
        return ""
    from ..text import safe_text

    out = safe_text(text)
    return out if limit is None or len(out) <= limit else out[:limit] + "…"


def describe(event: Mapping[str, Any]) -> str:
    """One human line for a stray-stanza event (led by the account's name in a fleet run)."""
    sender = _safe(event.get("from")) or "(no sender)"
    account = f"{_safe(event['account'])}: " if event.get("account") else ""
    if event.get("event") == "subscription-request":
        extra = f" (nick {_safe(event['nick'])!r})" if event.get("nick") else ""
        return f"{account}subscription request from {sender}{extra} reached this session; {event.get('note')}"
    if event.get("kept_in"):
        where = f"kept in {_safe(event['kept_in'])}" + (f" ({_safe(event['xml_error'])})" if event.get("xml_error") else "")
    else:
        where = f"NOT kept ({_safe(event.get('keep_error'))})" + (f": {_safe(event['xml'], None)}" if event.get("xml") else "")
    body = event.get("body")
    what = f": {_safe(body)!s}" if body is not None else (f" (subject {_safe(event.get('subject'))})" if event.get("subject") else " (no body)")
    return f"{account}message from {sender} reached this session, {where}{what}"
