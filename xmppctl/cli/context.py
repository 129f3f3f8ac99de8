"""What every command shares: global state, the output option, the async runner, login.

Kept light: nothing here imports slixmpp, tabulate, asyncio or the config machinery at import
time, so ``xmppctl --help`` and usage errors stay as fast as a bare typer app
(tests/cli/test_startup_imports.py checks it).
"""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, AsyncIterator, TypeVar

import typer

from ..output import FORMATS

if TYPE_CHECKING:
    import asyncio

    from ..config import Account, ConfigFile
    from ..xmpp.session import Session

T = TypeVar("T")


#: -o choices, one member per output.FORMATS entry
OutputFormat = Enum("OutputFormat", {f: f for f in FORMATS}, type=str)


OutputOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="Output format [default: table on a terminal, else the account's 'output' setting, else table]. Tables escape control characters; json, ndjson and csv are verbatim (a csv cell may start with =, which spreadsheets run as a formula).",
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
    #: --quiet: errors (and security warnings) only on stderr; see :func:`note`
    quiet: bool = False
    _config: Any = None
    _account: Any = None
    #: where the password of the running command came from (config.PasswordSource), once read
    password_source: Any = None
    #: output format of the running command, so the error edge can print JSON errors
    output: str | None = None
    #: where every command gets its session: ``factory(state, **kwargs)`` returns an async
    #: context manager yielding a Session; None is the real login (:func:`login`).  Tests
    #: put a fake session here (``main(argv, session_factory=...)``).
    session_factory: Callable[..., Any] | None = None
    #: fleet mode: every -a PATTERN given, --all-accounts, --parallel N (see cli/selection.py)
    patterns: tuple[str, ...] = ()
    all_accounts: bool = False
    parallel: int = 16
    #: the selected accounts when the command line asks for many; None: one account as before
    fleet_accounts: list[str] | None = None
    _fleet_checked: bool = False
    #: this state is one account of several (fleet mode, team sync): XMPPCTL_PASSWORD and
    #: XMPPCTL_JID, which describe one account, are never read for it
    one_of_several: bool = False
    #: --lock-wait: how long a command that changes an account waits for another run's lock
    lock_wait: float = 0.0

    def for_account(self, name: str) -> State:
        """This state for one account of a fleet run: its own account, password and deadlines."""
        from dataclasses import replace

        return replace(self, account=name, patterns=(), all_accounts=False, fleet_accounts=None,
                       _account=None, password_source=None, _fleet_checked=True, one_of_several=True)

    def open_session(self, *, changes: bool = False, **kwargs: Any) -> Any:
        """The session of a command: ``async with st.open_session(...) as s``.

        *changes*: the command changes the account's roster or subscriptions, so the session
        is opened under the account lock (xmppctl.locks), held until it is closed; read-only
        commands (and --dry-run) leave it out and never wait.
        """
        opened = (self.session_factory or login)(self, **kwargs)
        return _under_account_lock(self, opened) if changes else opened

    def config(self) -> ConfigFile:
        if self._config is None:
            from pathlib import Path

            from ..config import config_path_origin, default_config_path, exposed_password_warning, load_config

            path = Path(self.config_path) if self.config_path else default_config_path()
            self._config = load_config(path, origin=config_path_origin(bool(self.config_path)))
            exposed = exposed_password_warning(self._config)
            if exposed:
                warn(exposed)
        return self._config

    def resolve_account(self) -> Account:
        if self._account is None and self.fleet_accounts is not None:
            # fleet mode: validate every selected account; commands that only check the
            # account before their job get the first (each job resolves its own)
            resolved = [self.for_account(name).resolve_account() for name in self.fleet_accounts]
            self._account = resolved[0]
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
                shared_env=not self.one_of_several,
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
    if not obj._fleet_checked:
        from .selection import check_fleet

        obj._fleet_checked = True
        check_fleet(obj, ctx.command_path, ctx.command.callback)
    return obj


def note(st: State, line: str, *, erase_progress: bool = False) -> None:
    """An informational line on stderr (a summary, "exported N", "backup written"), unless --quiet.

    The line may hold remote text (JIDs, names): it is escaped as in tables.  *erase_progress*
    first clears a progress bar drawn on the terminal's current line.
    """
    from ..text import safe_text

    if not st.quiet:
        erase = "\r\x1b[K" if erase_progress and sys.stderr.isatty() else ""
        sys.stderr.write(erase + safe_text(line.rstrip("\n")) + "\n")


def warn(message: str) -> None:
    """A warning line on stderr, escaped as in tables (it may quote a server or a contact)."""
    from ..text import safe_text

    sys.stderr.write(f"xmppctl: warning: {safe_text(message)}\n")


def warn_if_messages_may_arrive(priority: int | None) -> None:
    """Before connecting: an explicit priority >= 0 lets the server route messages to this session."""
    if priority is None or priority < 0:
        return
    from ..xmpp.keeper import default_keep_path

    warn(f"--priority {priority} >= 0: the server may deliver stored offline messages and new messages to "
         f"this session instead of keeping them for your clients; each one is reported here and kept in "
         f"{default_keep_path()}")


def render(st: State, rows: Iterable[Mapping[str, Any]], columns: Sequence[str], fmt: str,
           empty: str | None = "no results") -> None:
    """Rows on stdout; a table with no rows prints nothing there and *empty* as a note on stderr
    (e.g. "no contacts"; None for commands that print their own summary)."""
    from ..output import render as _render

    count = [0]

    def counted() -> Iterable[Mapping[str, Any]]:
        for row in rows:
            count[0] += 1
            yield row

    _render(counted(), columns, fmt, sys.stdout)
    if fmt == "table" and not count[0] and empty:
        note(st, f"xmppctl: {empty}")


def run(coro_factory: Callable[[asyncio.Event], Awaitable[T]], *, graceful_signals: bool = False) -> T:
    """Run one command's coroutine in a fresh event loop with SIGINT/SIGTERM handling.

    The coroutine gets a *stop* event.  With ``graceful_signals`` a signal only sets it (the
    command winds down and exits 0, e.g. ``presence set --hold``); otherwise a signal cancels
    the command, its session closes the stream, and the edge exits 130.
    """
    import asyncio  # ~25 ms of imports: only for commands that go to the network

    from ..errors import Interrupted
    from ..interrupts import SIGNALS, note_interrupted

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
    from ..interrupts import SIGNALS

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
            if previous.get(sig) is not None:  # None: a handler not set from Python; keep the default
                signal.signal(sig, previous[sig])
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@asynccontextmanager
async def _under_account_lock(st: State, opened: Any) -> AsyncIterator[Any]:
    from ..locks import account_lock

    async with account_lock(st.resolve_account().jid, st.lock_wait):
        async with opened as s:
            yield s


async def _password(st: State, account: Account) -> str:
    """The account's password, read without blocking the loop (other accounts keep running)."""
    from ..config import fetch_password

    password, st.password_source = await fetch_password(account, password_stdin=st.password_stdin,
                                                        shared_env=not st.one_of_several)
    return password


def session(st: State, **kwargs: Any) -> Any:
    """The command's session, from the state's one factory (:meth:`State.open_session`)."""
    return st.open_session(**kwargs)


@asynccontextmanager
async def login(st: State, *, subscriptions_expected: bool = False, **kwargs: Any) -> AsyncIterator[Session]:
    """Resolve the account and password, log in, yield the session, always close it.

    Messages that reach the session, and subscription requests unless the command lists them
    itself (*subscriptions_expected*), are reported on stderr (JSON lines with -o json/ndjson)
    and messages are kept in the keep file (xmppctl.xmpp.keeper).
    """
    from ..errors import AuthError
    from ..xmpp.session import configure_logging, open_session
    from ..xmpp.keeper import StrayKeeper

    account = st.resolve_account()
    password = await _password(st, account)
    configure_logging(st.debug, password)
    if account.insecure:
        warn("--insecure: the server's TLS certificate is NOT verified")
    if account.allow_plaintext:
        from ..xmpp.session import check_plaintext_allowed

        check_plaintext_allowed(account)
        warn("--allow-plaintext-loopback: the stream may be unencrypted (loopback only)")
    keeper = StrayKeeper(account.jid, stray_report(st), subscriptions_expected=subscriptions_expected,
                         label=account.name if st.one_of_several else None)
    logged_in = False
    try:
        async with open_session(account, password, keeper=keeper, **kwargs) as s:
            logged_in = True
            yield s
    except AuthError as exc:
        if logged_in or st.password_source is None:
            raise
        # name the password's source: a stale XMPPCTL_PASSWORD silently beats a password_command
        raise AuthError(f"{exc.message} ({st.password_source.describe()})",
                        details={**(exc.details if isinstance(exc.details, dict) else {}),
                                 "password_source": st.password_source.label}) from None


def stray_report(st: State) -> Callable[[Mapping[str, Any]], None]:
    """How this command reports stanzas nobody asked for (xmppctl.xmpp.keeper): a line on stderr,
    or one JSON object per line with -o json/ndjson."""
    from ..text import stderr_json
    from ..xmpp.keeper import describe

    def report(event: Mapping[str, Any]) -> None:
        line = stderr_json(dict(event)) if st.output in ("json", "ndjson") else f"xmppctl: {describe(event)}"
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr gone: the keep file still has the message
            pass

    return report


_CHOICE = re.compile(r"Invalid value for (?P<opt>.+?): (?:Value error, )?'(?P<value>.*)' is not one of (?P<choices>.+?)\.?$", re.S)


def our_wording(message: str) -> str:
    """A parser message in our words: ``-o/--output 'yaml': not one of table, json, ndjson, csv``
    (click's wording, and pydantic's "Value error, " that some typer versions add, go)."""
    match = _CHOICE.match(message)
    if match is None:
        return message.replace("Value error, ", "")
    names = sorted((n.strip("'") for n in match["opt"].split(" / ")), key=len)
    choices = ", ".join(c.strip().strip("'") for c in match["choices"].split(","))
    return f"{'/'.join(names)} {match['value']!r}: not one of {choices}"
