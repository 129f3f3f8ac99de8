"""Files replaced atomically: the config, the completion cache, roster exports and backups."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | Path, content: str | bytes | Callable[[IO[Any]], None], *, binary: bool = False,
                 mode: int = 0o600, fsync: bool = False) -> None:
    """Replace *path* with *content* through a temporary file in the same directory and a rename.

    A crash, a full disk or an exception leaves the old file (or none), never half of a new
    one, and no temporary file.  *content* is text (UTF-8, newlines as given), bytes
    (*binary*), or a function that writes to the open file.  The file gets *mode*: 0600 by
    default, because what we write (passwords, rosters) is personal.  *fsync* makes the data
    durable before the rename, for files worth a disk flush (exports, backups).
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            if callable(content):
                content(f)
            else:
                f.write(content)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
