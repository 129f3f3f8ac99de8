"""Writing roster files: exports and backups in TOML, JSON or CSV, replaced atomically.

Every format carries what :mod:`.read` reads back (``jid``, ``name``, ``groups``) plus the
read-only ``subscription`` and ``ask``.  Library module: raises :class:`UsageError`, never prints.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from ...errors import Interrupted, UsageError
from ..items import RosterItem
from .read import CSV_COLUMNS


def _toml_str(value: str) -> str:
    """A TOML basic string (JSON-style escapes; TOML also forbids a raw DEL)."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F:
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\u{code:04X}"))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def iter_toml(items: Iterable[RosterItem]) -> Iterator[str]:
    """TOML text, one ``[[contact]]`` table per contact (TOML has no null: no name, no key)."""
    yield ("# xmppctl roster export. jid, name and groups are imported;\n"
           "# subscription and ask are read-only information (ignored on import).\n")
    for item in items:
        lines = ["", "[[contact]]", f"jid = {_toml_str(item.jid)}"]
        if item.name is not None:
            lines.append(f"name = {_toml_str(item.name)}")
        lines.append("groups = [" + ", ".join(_toml_str(g) for g in item.groups) + "]")
        lines.append(f"subscription = {_toml_str(item.subscription)}")
        lines.append(f"ask = {'true' if item.ask else 'false'}")
        yield "\n".join(lines) + "\n"


def iter_json(items: Iterable[RosterItem]) -> Iterator[str]:
    """A JSON list with the keys of ``roster list -o json``, one object per line."""
    import json

    first = True
    yield "["
    for item in items:
        yield ("\n  " if first else ",\n  ") + json.dumps(item.to_dict(), ensure_ascii=False)
        first = False
    yield "\n]\n" if not first else "]\n"


def iter_csv(items: Iterable[RosterItem]) -> Iterator[str]:
    """CSV with a header; groups joined by ``;``."""
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow([item.jid, item.name or "", item.subscription, "true" if item.ask else "false",
                         ";".join(item.groups)])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def check_exportable(items: Iterable[RosterItem], fmt: str) -> None:
    """Refuse (before writing anything) what the format cannot carry back losslessly."""
    if fmt == "xep0227":
        from ...text import check_text

        for item in items:  # roster items come from the server: XML-safe, but say so if not
            for text in (item.name or "", *item.groups):
                check_text(text, f"{item.jid}: cannot be written to XML", multiline=True, max_bytes=1 << 20)
        return
    if fmt != "csv":
        return
    for item in items:
        for group in item.groups:
            if ";" in group or group != group.strip():
                raise UsageError(f"{item.jid}: group {group!r} cannot be written to CSV "
                                 "(';' or leading/trailing spaces); export as toml or json")


def write_roster(items: Iterable[RosterItem], fmt: str, stream: TextIO, *, account_jid: str | None = None,
                 pending_in: Iterable[str] = ()) -> None:
    """Write *items* in *fmt*; XEP-0227 also needs the account's JID and carries *pending_in*."""
    if fmt == "xep0227":
        from .xep0227 import iter_xep0227

        if account_jid is None:
            raise UsageError("a XEP-0227 export needs the account's JID")
        chunks: Iterable[str] = iter_xep0227(items, account_jid, pending_in)
    else:
        make = {"toml": iter_toml, "json": iter_json, "csv": iter_csv}.get(fmt)
        if make is None:
            raise UsageError(f"unknown roster file format {fmt!r}")
        chunks = make(items)
    for chunk in chunks:
        stream.write(chunk)


def write_roster_path(items: list[RosterItem], fmt: str, path: str | Path, *, account_jid: str | None = None,
                      pending_in: Iterable[str] = ()) -> Path:
    """Write to *path* atomically (:func:`xmppctl.fsutil.atomic_write`), flushed to disk.

    A new file is created 0600 (a roster is personal data); an existing file keeps its mode.
    """
    from ...fsutil import atomic_write

    check_exportable(items, fmt)
    target = Path(path)
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    except OSError as exc:
        raise UsageError(f"{target}: {exc.strerror or exc}") from None
    with _sigterm_raises():  # SIGTERM's default action would leave the temp file behind
        try:
            atomic_write(target, lambda fh: write_roster(items, fmt, fh, account_jid=account_jid, pending_in=pending_in),
                         mode=mode, fsync=True)
        except OSError as exc:
            raise UsageError(f"{target}: cannot write: {exc.strerror or exc}") from None
    return target


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While writing, SIGTERM raises Interrupted (so the temp file is removed) instead of killing us.

    Only when SIGTERM has its default action: inside the command's event loop run() handles it.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def interrupted(signum: int, frame: Any) -> None:
        raise Interrupted("interrupted by SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def backup_names(directory: str | Path, account_jid: str, fmt: str, now: datetime | None = None) -> Iterator[Path]:
    """Timestamped names for a backup export in *directory*: ``roster-backup-JID-STAMP.fmt``,
    then ``-1``, ``-2``... (the caller takes the first it can create)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9@._-]", "_", account_jid)
    base = Path(directory) / f"roster-backup-{safe}-{stamp}"
    yield base.with_name(base.name + f".{fmt}")
    n = 1
    while True:
        yield base.with_name(f"{base.name}-{n}.{fmt}")
        n += 1


def backup_path(directory: str | Path, account_jid: str, fmt: str, now: datetime | None = None) -> Path:
    """The name a backup would get now (the first of :func:`backup_names` not taken yet)."""
    return next(p for p in backup_names(directory, account_jid, fmt, now) if not p.exists())


def write_backup(items: list[RosterItem], fmt: str, directory: str | Path, account_jid: str) -> Path:
    """Export *items* to a new backup file in *directory*, created exclusively (never replacing
    a file, not even one another run created in the same second) and flushed to disk with its
    directory before this returns: the removals it protects come after."""
    from ...fsutil import create_new

    check_exportable(items, fmt)
    with _sigterm_raises():
        try:
            return create_new(backup_names(directory, account_jid, "xml" if fmt == "xep0227" else fmt),
                              lambda fh: write_roster(items, fmt, fh, account_jid=account_jid))
        except OSError as exc:
            raise UsageError(f"{directory}: cannot write a backup: {exc.strerror or exc}") from None
