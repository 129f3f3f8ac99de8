"""What every command shares: global state, the output option, the async runner, login.

Kept light: nothing here imports slixmpp, tabulate, asyncio or the config machinery at import
time, so ``xmppctl --help`` and usage errors stay as fast as a bare typer app
(tests/cli/test_startup_imports.py checks it).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, AsyncIterator, TypeVar

import typer

if TYPE_CHECKING:
    import asyncio

    from ..config import Account, ConfigFile
    from ..session import Session

T = TypeVar("T")


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"


OutputOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="Output format [default: table on a terminal, else the account's 'output' setting, else table].",
        show_default=False,
        case_sensitive=False,
    ),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", "-n", help="Show what would be sent; send nothing.")]


@dataclass
class State:
    """Global options, set by the root callback and read by every command."""

    config_path: str | None = None
    account: str | None = None
    jid: str | None = None
    server: str | None = None
    port: int | None = None
    tls: str | None = None
    ca_file: str | None = None
    timeout: float | None = None
    insecure: bool = False
    allow_plaintext: bool = False
    password_stdin: bool = False
    debug: bool = False
    _config: Any = None
    _account: Any = None
    #: output format of the running command, so the error edge can print JSON errors
    output: str | None = None

    def config(self) -> ConfigFile:
        if self._config is None:
            from pathlib import Path

            from ..config import default_config_path, load_config

            path = Path(self.config_path) if self.config_path else default_config_path()
            self._config = load_config(path)
        return self._config

    def resolve_account(self) -> Account:
        if self._account is None:
            from ..config import resolve_account

            self._account = resolve_account(
                self.config(),
                account=self.account,
                jid=self.jid,
                server=self.server,
                port=self.port,
                tls=self.tls,
                ca_file=self.ca_file,
                timeout=self.timeout,
                insecure=self.insecure,
            )
            self._account.allow_plaintext = self.allow_plaintext
        return self._account

    def output_format(self, requested: OutputFormat | None) -> str:
        """-o if given; else table on a TTY; else the account's configured default; else table."""
        if requested is not None:
            fmt = requested.value
        elif sys.stdout.isatty():
            fmt = "table"
        else:
            fmt = "table"
            try:
                fmt = self.resolve_account().output or "table"
            except Exception:  # no account is fine for commands that print without one
                pass
        self.output = fmt
        return fmt


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    if not isinstance(obj, State):
        obj = ctx.find_root().obj = State()
    return obj


def warn(message: str) -> None:
    sys.stderr.write(f"xmppctl: warning: {message}\n")


def warn_if_messages_may_arrive(priority: int | None) -> None:
    """Before connecting: an explicit priority >= 0 lets the server route messages to this session."""
    if priority is None or priority < 0:
        return
    from ..strays import default_keep_path

    warn(f"--priority {priority} >= 0: the server may deliver stored offline messages and new messages to "
         f"this session instead of keeping them for your clients; each one is reported here and kept in "
         f"{default_keep_path()}")


def render(st: State, rows: Iterable[Mapping[str, Any]], columns: Sequence[str], fmt: str) -> None:
    from ..output import render as _render

    _render(rows, columns, fmt, sys.stdout)


def run(coro_factory: Callable[[asyncio.Event], Awaitable[T]], *, graceful_signals: bool = False) -> T:
    """Run one command's coroutine in a fresh event loop with SIGINT/SIGTERM handling.

    The coroutine gets a *stop* event.  With ``graceful_signals`` a signal only sets it (the
    command winds down and exits 0, e.g. ``presence set --hold``); otherwise a signal cancels
    the command, its session closes the stream, and the edge exits 130.
    """
    import asyncio  # ~25 ms of imports: only for commands that go to the network

    from ..errors import Interrupted
    from ..launch import SIGNALS, note_interrupted

    async def main() -> T:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        task = asyncio.current_task()
        got: list[int] = []

        def on_signal(signum: int) -> None:
            got.append(signum)
            if graceful_signals and len(got) == 1:
                stop.set()
            elif task is not None:
                task.cancel()

        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            return await _cancel_guard(coro_factory(stop), got)
        finally:
            if got:
                note_interrupted()
            _restore_handlers(loop, previous)

    async def _cancel_guard(aw: Awaitable[T], got: list[int]) -> T:
        try:
            return await aw
        except asyncio.CancelledError:
            if got:
                name = signal.Signals(got[0]).name
                raise Interrupted(f"interrupted by {name}") from None
            raise

    return asyncio.run(main())


def _restore_handlers(loop: asyncio.AbstractEventLoop, previous: dict[int, Any]) -> None:
    """Hand SIGINT/SIGTERM back to the handlers that were there before :func:`run`.

    ``remove_signal_handler`` resets them to Python's defaults (SIGTERM: death by signal), so
    the old ones are put back by hand, with both signals blocked in between: one arriving in
    that moment is delivered to the restored handler, never to a default.
    """
    from ..launch import SIGNALS

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
            if previous.get(sig) is not None:  # None: a handler not set from Python; keep the default
                signal.signal(sig, previous[sig])
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


async def _password(st: State, account: Account) -> str:
    from ..config import read_password

    return read_password(account, password_stdin=st.password_stdin)


@asynccontextmanager
async def session(st: State, *, subscriptions_expected: bool = False, **kwargs: Any) -> AsyncIterator[Session]:
    """Resolve the account and password, log in, yield the session, always close it.

    Messages that reach the session, and subscription requests unless the command lists them
    itself (*subscriptions_expected*), are reported on stderr (JSON lines with -o json/ndjson)
    and messages are kept in the keep file (xmppctl.strays).
    """
    from ..session import configure_logging, open_session
    from ..strays import StrayKeeper, json_stderr_report, stderr_report

    account = st.resolve_account()
    password = await _password(st, account)
    configure_logging(st.debug, password)
    if account.insecure:
        warn("--insecure: the server's TLS certificate is NOT verified")
    if account.allow_plaintext:
        from ..session import check_plaintext_allowed

        check_plaintext_allowed(account)
        warn("--allow-plaintext-loopback: the stream may be unencrypted (loopback only)")
    report = json_stderr_report if st.output in ("json", "ndjson") else stderr_report
    keeper = StrayKeeper(account.jid, report, subscriptions_expected=subscriptions_expected)
    async with open_session(account, password, keeper=keeper, **kwargs) as s:
        yield s


def validate_all(values: Iterable[str], parse: Callable[[str], T]) -> list[T]:
    """Parse every value before anything is sent; the first bad one raises (exit 2)."""
    return [parse(v) for v in values]
