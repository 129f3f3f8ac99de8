"""Files replaced atomically (the config, the completion cache, roster exports) or created
exclusively (backups), and made durable before what they protect happens."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | Path, content: str | bytes | Callable[[IO[Any]], None], *, binary: bool = False,
                 mode: int = 0o600, fsync: bool = False) -> None:
    """Replace *path* with *content* through a temporary file in the same directory and a rename.

    A crash, a full disk, an exception or a signal leaves the old file (or none), never half
    of a new one, and no temporary file.  *content* is text (UTF-8, newlines as given), bytes
    (*binary*), or a function that writes to the open file.  The file gets *mode*: 0600 by
    default, because what we write (passwords, rosters) is personal.  *fsync* makes the data
    durable before the rename and the rename durable after it (the directory is flushed too),
    for files worth a disk flush (the config, exports).
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    with _temp_file(target.name, directory) as (fd, tmp):
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
    if fsync:
        fsync_dir(directory)


def create_new(candidates: Iterable[str | Path], content: Callable[[IO[Any]], None], *, mode: int = 0o600) -> Path:
    """Write a new file under the first name of *candidates* that does not exist yet; never
    replace one.

    The content goes to a temporary file in the same directory, is flushed to disk, and is then
    hard-linked to the name (``link`` fails when the name exists, unlike a rename): two runs
    that pick the same name in the same second get two files, and a crash leaves either the
    whole file or none.  The directory is flushed too.  Returns the name used.
    """
    names = iter(candidates)
    first = Path(next(names))
    directory = first.parent if str(first.parent) else Path(".")
    with _temp_file(first.name, directory) as (fd, tmp):
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            content(f)
            f.flush()
            os.fsync(f.fileno())
        name = first
        while True:
            try:
                os.link(tmp, name)
                break
            except FileExistsError:
                name = Path(next(names))
    fsync_dir(directory)
    return name


def fsync_dir(directory: str | Path) -> None:
    """Flush *directory* itself, so a file created or renamed in it survives a crash."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _temp_file(name: str, directory: Path) -> Iterator[tuple[int, str]]:
    """A new temporary file (descriptor, path) beside *name*, removed when the block ends
    (after a rename or a link there is nothing left to remove).

    SIGINT and SIGTERM are held back from before the file is created until the cleanup is in
    place: one arriving just after mkstemp created it would leave it behind, nameless to us.
    """
    import signal

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a held signal raises here: cleaned up below
        yield fd, tmp
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
