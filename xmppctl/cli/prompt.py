"""The one yes/no question the CLI asks, on the terminal, inside the running event loop.

The answer is read from standard input through the event loop (``add_reader``), not in a
thread: the XMPP stream keeps being serviced while the user thinks, and a Ctrl-C cancels the
command at once (``cli.context.run`` turns the signal into exit 130).  A reading thread could
not be stopped, and the loop's shutdown would wait for the user to press Enter.
"""

from __future__ import annotations

import asyncio
import os
import sys

YES = ("y", "yes")
NO = ("", "n", "no")


async def confirm(question: str) -> bool:
    """Ask *question* [y/N] on stderr, read the answer from the terminal on stdin.

    Enter, "n" or end of input (Ctrl-D) mean no; "y" or "yes" mean yes; anything else asks
    again.  Callers ask only when stdin is a terminal (else they require --yes).
    """
    from ..text import safe_text

    fd = sys.stdin.fileno()
    prompt = f"{safe_text(question)} [y/N]: "  # it may list JIDs from the server
    try:
        while True:
            sys.stderr.write(prompt)
            sys.stderr.flush()
            line = await _read_line(fd)
            if line is None:  # Ctrl-D: the terminal echoed nothing, end the prompt's line
                sys.stderr.write("\n")
                return False
            answer = line.strip().lower()
            if answer in YES:
                return True
            if answer in NO:
                return False
            prompt = "Please answer y or n [y/N]: "
    except asyncio.CancelledError:  # Ctrl-C: the "interrupted" message goes on a line of its own
        sys.stderr.write("\n")
        sys.stderr.flush()
        raise


async def confirm_or_abort(question: str) -> None:
    """:func:`confirm`, raising "aborted: nothing was changed" (exit 1) unless the answer is yes."""
    from ..errors import aborted

    if not await confirm(question):
        raise aborted()


async def _read_line(fd: int) -> str | None:
    """One line from *fd* without blocking the loop; None at end of input."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    while b"\n" not in data:
        readable = loop.create_future()
        loop.add_reader(fd, lambda: readable.done() or readable.set_result(None))
        try:
            await readable
        finally:
            loop.remove_reader(fd)
        # a terminal in canonical mode is readable once a whole line (or EOF) is there: no wait
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")
