"""Process start and end for the ``xmppctl`` command: signals handled from the first moment.

Importing the CLI (typer, then slixmpp) takes a noticeable fraction of a second.  A SIGINT or
SIGTERM in that time, or while an outcome is being reported, must end like one that arrives
while the command runs: the message "interrupted" and exit 130, never a traceback or a death by
signal.  So this module imports nothing but ``signal`` and ``sys``, installs its handlers, and
only then imports the CLI.

Outside the event loop the first signal raises KeyboardInterrupt (the CLI edge turns it into
exit 130); any later one is absorbed, because the interruption is already being handled.
Inside the event loop ``cli.context.run`` takes over and hands back here what it received.
Once :func:`entry` has its exit code both signals are ignored: interpreter shutdown cannot
change it any more.
"""

from __future__ import annotations

import signal
import sys

from .interrupts import SIGNALS, install

INTERRUPTED_EXIT = 130  # ExitCode.INTERRUPTED; errors.py is not imported this early


def entry() -> None:
    """Console-script entry point (also ``python -m xmppctl``)."""
    install()
    try:
        from .cli import main

        code = main()
    except KeyboardInterrupt:  # while importing, or after main() reported; later signals are absorbed
        sys.stderr.write("xmppctl: interrupted\n")
        code = INTERRUPTED_EXIT
    for sig in SIGNALS:  # the outcome is decided and reported
        signal.signal(sig, signal.SIG_IGN)
    sys.exit(code)
