"""Text that goes into a stanza: the one validator for command-line options and roster files.

XML 1.0 cannot carry most C0 control characters, U+FFFE/U+FFFF or lone surrogates; a stanza
holding one is either refused by the serializer or makes the server end the stream.  So every
piece of user text is checked here before anything is sent, and a bad one is a UsageError
(exit 2) naming where it came from (``--name``, ``roster.toml:3: groups``...).

Command-line arguments that are not valid UTF-8 reach Python as lone surrogates
U+DC80..U+DCFF (PEP 383 surrogateescape); they get their own message.

Per field: names, groups and nicknames are one line, so they allow no control character at
all (nor DEL); status texts and subscription messages may span lines, so tab, LF and CR (the
controls XML allows) pass there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from .errors import UsageError

#: byte limit of a roster name, a group name or a nickname (servers cap such strings near 1 KiB)
MAX_TEXT_BYTES = 1023
#: no byte limit of ours: the server's stanza size limit applies
_NO_LIMIT = 1 << 62
#: byte limit of a status text or a subscription request's message
MAX_STATUS_BYTES = 1024

# What XML 1.0 cannot carry at all: C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# One-line fields also refuse tab, LF, CR and DEL.
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _why(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return "the argument is not valid UTF-8 (an undecodable byte)"
    if 0xD800 <= code <= 0xDFFF:
        return "a lone surrogate, which XML cannot carry"
    if code in (0xFFFE, 0xFFFF):
        return "a non-character, which XML cannot carry"
    return "a control character"


def check_text(value: str, where: str, *, multiline: bool = False, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """*value* if a stanza can carry it; else UsageError "<where>: contains U+XXXX, ...".

    ``multiline`` admits tab, LF and CR.  *where* names the option or the file position.
    """
    if not isinstance(value, str):
        raise UsageError(f"{where}: expected a string, got {type(value).__name__}")
    bad = (_NOT_XML if multiline else _NOT_ONE_LINE).search(value)
    if bad:
        raise UsageError(f"{where}: contains U+{ord(bad.group()):04X}, {_why(bad.group())}")
    if len(value.encode()) > max_bytes:
        raise UsageError(f"{where}: longer than {max_bytes} bytes")
    return value


def validate_name(name: str | None, where: str = "name") -> str | None:
    """A contact's display name; ``None``/empty means no name.  Raises UsageError (exit 2)."""
    if name is None or name == "":
        return None
    return check_text(name, where)


def validate_group(group: str, where: str = "group") -> str:
    """A group name: non-empty, not only spaces, one line of XML-safe text (RFC 6121 §2.1.2.5)."""
    if isinstance(group, str) and not group.strip():
        raise UsageError(f"{where}: empty group name")
    return check_text(group, where)


def validate_stored_name(name: str | None, where: str = "name") -> str | None:
    """A name read from a roster file: whatever XML can carry, as other clients may have stored
    it on the server (a 1500-byte name, a newline, a tab) and ``roster export`` wrote it; the
    server is the judge of the rest.  Only the command line's own options get the one-line,
    1023-byte rules of :func:`validate_name`."""
    if name is None or name == "":
        return None
    return check_text(name, where, multiline=True, max_bytes=_NO_LIMIT)


def validate_stored_group(group: str, where: str = "group") -> str:
    """A group read from a roster file: not empty (servers refuse that), else XML-safe text;
    whitespace-only and multi-line groups that a server kept are restored as they were."""
    if group == "":
        raise UsageError(f"{where}: empty group name")
    return check_text(group, where, multiline=True, max_bytes=_NO_LIMIT)


def validate_groups(groups: Iterable[str], where: str = "groups") -> tuple[str, ...]:
    """Validated, de-duplicated (servers reject duplicates) and sorted group names."""
    return tuple(sorted({validate_group(g, where) for g in groups}))


def validate_nick(nick: str | None, where: str = "--nick") -> str | None:
    """A XEP-0172 nickname sent with a subscription request: one line; empty means none."""
    if nick is None or nick == "":
        return None
    return check_text(nick, where)


def validate_status(text: str | None, where: str = "--status") -> str | None:
    """A status text (or a subscription request's message): may span lines."""
    if text is None:
        return None
    return check_text(text, where, multiline=True, max_bytes=MAX_STATUS_BYTES)


# ---- terminal safety: remote text on a terminal (tables, stderr lines) -------------------------

# What a table must not print raw: C0/C1 controls and DEL (a newline forges a row, ESC drives
# the terminal), the Unicode line/paragraph separators, bidi embeddings, overrides, isolates
# and marks (they reorder what follows on the line), and lone surrogates (not printable at all).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: Any) -> str:
    """*value* as text a terminal shows as is: unsafe characters escaped (\\n, \\x1b, \\u202e).

    For tables and other human-readable lines only; JSON, NDJSON and CSV stay faithful.
    """
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text)


def safe_lines(text: str) -> str:
    """Several lines (a traceback) for a terminal: each escaped as :func:`safe_text`, the line
    breaks between them kept."""
    return "\n".join(safe_text(line) for line in text.split("\n"))


def stderr_json(obj: Any) -> str:
    """One JSON line for stderr (an error, a received-message report): ASCII only, so remote
    text in it (C1 controls such as U+009B, bidi overrides) reaches a terminal as escapes."""
    return json.dumps(obj, ensure_ascii=True)
