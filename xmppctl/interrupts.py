"""Signal state of the process, shared by the launcher (before the CLI is imported) and the
event-loop runner (cli/context.run): which signals interrupt, and whether one already did.

It imports nothing but ``signal``, so the launcher can install its handlers first thing.
"""

from __future__ import annotations

import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _State:
    installed = False
    #: a signal has interrupted the command (in or out of the event loop)
    interrupted = False


def _interrupt_once(signum: int, _frame: object) -> None:
    if _State.interrupted:
        return
    _State.interrupted = True
    raise KeyboardInterrupt(f"interrupted by {signal.Signals(signum).name}")


def install() -> None:
    """SIGINT and SIGTERM both interrupt once; later ones are absorbed."""
    for sig in SIGNALS:
        signal.signal(sig, _interrupt_once)
    _State.installed = True


def note_interrupted() -> None:
    """The event loop received a signal: a later one outside it must not interrupt again."""
    if _State.installed:
        _State.interrupted = True
