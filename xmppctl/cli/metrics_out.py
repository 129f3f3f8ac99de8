"""``-o prometheus`` and ``--textfile PATH``: the commands that also speak Prometheus.

``presence probe``, ``roster list`` and ``check ...`` accept them.  Each account's job
gathers its data in a session whose login is timed (:func:`measured_session`); the samples of
every account go into one document (xmppctl/metrics.py), printed or written atomically for
node_exporter's textfile collector.  An account that fails is ``xmppctl_login_success 0`` in
the document, its error goes to stderr and the exit code is non-zero as usual.

Light at import time (``--help`` imports it): only typer and the format names.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, AsyncIterator, NoReturn

import typer

from ..output import FORMATS

if TYPE_CHECKING:
    from ..metrics import MetricsDocument
    from .context import State

PROMETHEUS = "prometheus"

#: -o choices of the commands that can write metrics
MetricsFormat = Enum("MetricsFormat", {f: f for f in (*FORMATS, PROMETHEUS)}, type=str)

MetricsOutputOpt = Annotated[
    MetricsFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="Output format [default: table on a terminal, else the account's 'output' setting, else table]; "
             "prometheus: metrics in the Prometheus text format (see --textfile). Tables escape control characters; "
             "json, ndjson and csv are verbatim.",
        show_default=False,
        case_sensitive=False,
    ),
]
TextfileOpt = Annotated[
    str | None,
    typer.Option(
        "--textfile",
        metavar="PATH",
        help="Write the Prometheus metrics to PATH (must end in .prom) for node_exporter's textfile collector: "
             "atomically (a temporary file in the same directory, then a rename), mode 0644; prints nothing on "
             "success. Implies -o prometheus.",
        show_default=False,
    ),
]


def metrics_format(st: State, output: Any, textfile: str | None) -> str:
    """The command's format; --textfile means prometheus (any other -o with it is exit 2).
    The path is checked before anything is sent."""
    from ..errors import UsageError

    if textfile is not None:
        if output is not None and output.value != PROMETHEUS:
            raise UsageError(f"--textfile writes Prometheus metrics: it does not combine with -o {output.value}")
        check_textfile(textfile)
        st.output = PROMETHEUS
        return PROMETHEUS
    if output is not None and output.value == PROMETHEUS:
        st.output = PROMETHEUS
        return PROMETHEUS
    return st.output_format(output)


def check_textfile(path: str) -> None:
    """node_exporter reads only ``*.prom`` files, from an existing directory."""
    import os

    from ..errors import UsageError

    if not path.endswith(".prom"):
        raise UsageError(f"--textfile {path}: node_exporter's textfile collector reads only files ending in .prom")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise UsageError(f"--textfile {path}: directory {directory} does not exist")


def write_document(text: str, textfile: str | None) -> None:
    """The document on stdout, or in *textfile* (temporary file in the same directory, rename, 0644)."""
    if textfile is None:
        sys.stdout.write(text)
        return
    from ..errors import XmppctlError
    from ..fsutil import atomic_write

    try:
        atomic_write(textfile, text, mode=0o644)
    except OSError as exc:
        raise XmppctlError(f"--textfile {textfile}: cannot write: {exc.strerror or exc}") from None


@dataclass
class Login:
    """How the session of one account went: seconds to a bound session, Session.login_facts()."""

    seconds: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)


@asynccontextmanager
async def measured_session(st: State, login: Login, **kwargs: Any) -> AsyncIterator[Any]:
    """The command's session (cli.context.session), with its login timed into *login*."""
    from .context import session

    start = time.monotonic()
    async with session(st, **kwargs) as s:
        login.seconds = time.monotonic() - start
        facts = getattr(s, "login_facts", None)
        login.facts = facts() if facts is not None else {}
        yield s


def account_label(st: State) -> str:
    """The ``account`` label: the config's account name, else the JID logged in with."""
    account = st.resolve_account()
    return account.name or account.jid


def run_labelled(st: State, job: Callable[[State, str], Awaitable[Any]]) -> list:
    """*job(account_state, label)* for each account of the run (cli/run.py's one path), each
    outcome named by its label: the account's name in a fleet, else :func:`account_label`."""
    from .run import run_jobs

    one = st.fleet_accounts is None
    outcomes = run_jobs(st, lambda sub: job(sub, account_label(st) if one else sub.account or ""))
    if one:
        outcomes[0].account = account_label(st)
    return outcomes


#: a job: (account state, its Login) -> a function adding the account's samples to the document
Gather = Callable[["State", Login], Awaitable[Callable[["MetricsDocument", str], None]]]


def run_metrics(st: State, textfile: str | None, gather: Gather) -> NoReturn:
    """Run *gather* for the account (or every account of a fleet), write one document, exit.

    Exit 0 when every account succeeded; a failed account is ``xmppctl_login_success 0`` and
    its error on stderr; exit with its code (one account) or the fleet's (xmppctl/fleet/run.py).
    """
    from ..fleet.run import error_line, fleet_exit_code
    from ..metrics import MetricsDocument, add_login

    adders: dict[str, Callable[[MetricsDocument, str], None]] = {}
    logins: dict[str, Login] = {}

    async def one(sub: State, name: str) -> list:
        logins[name] = Login()
        adders[name] = await gather(sub, logins[name])
        return []

    outcomes = run_labelled(st, one)
    doc = MetricsDocument()
    for outcome in outcomes:
        login = logins.get(outcome.account, Login())
        ok = outcome.error is None
        add_login(doc, outcome.account, success=ok and login.seconds is not None, seconds=login.seconds,
                  not_after=login.facts.get("tls_not_after"))
        if ok and outcome.account in adders:
            adders[outcome.account](doc, outcome.account)
    write_document(doc.text(), textfile)
    if st.fleet_accounts is None and outcomes[0].error is not None:
        raise outcomes[0].error
    for outcome in outcomes:
        if outcome.error is not None:
            sys.stderr.write(error_line(outcome.account, outcome.error) + "\n")
    raise typer.Exit(fleet_exit_code(outcomes))
