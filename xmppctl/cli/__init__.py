"""The root typer app, its global options, and the one error edge (:func:`main`)."""


import sys
from typing import Annotated, Optional

import typer

from .. import __version__
from .commands import account as account_cli
from .commands import block as block_cli
from .commands import check as check_cli
from .commands import group as groups_cli
from .commands import presence as presence_cli
from .commands import roster as roster_cli
from .commands import sub as subscribe_cli
from .commands import team as team_cli
from ..fleet.run import DEFAULT_PARALLEL
from .context import State, our_wording
from .selection import FLEET_HELP
from .complete import complete_account, completion_requested, enable_shell_completion

HELP = """Admin utility for XMPP accounts: rosters, groups, subscriptions and presence.

Every command opens one short client session (connect, TLS, SASL, bind, do one job, close)
and exits with a documented code: 0 ok, 1 other failure, 2 usage/bad input,
3 authentication, 4 connection/TLS, 5 timeout, 6 server refused the request,
7 partial failure in a bulk operation, 10 drift found, 130 interrupted.
The `check` commands are monitoring plugins instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

The password is never taken from the command line: use --password-stdin,
XMPPCTL_PASSWORD_<NAME> (the account's own variable), XMPPCTL_PASSWORD, password_command in
the config file, or the system keyring; an authentication failure names the source used.

Global options may also follow the command: `xmppctl roster list -a work`.
"""

app = typer.Typer(
    name="xmppctl",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
app.add_typer(roster_cli.app, name="roster")
app.add_typer(groups_cli.app, name="group")
app.add_typer(subscribe_cli.app, name="sub")
app.add_typer(block_cli.app, name="block")
app.add_typer(presence_cli.app, name="presence")
app.add_typer(account_cli.app, name="account")
app.add_typer(team_cli.app, name="team")
app.add_typer(check_cli.app, name="check")


#: the State of the running invocation, kept for the error edge after click's context is gone
_STATE_HOLDER: list[State] = []


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xmppctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[Optional[str], typer.Option("--config", metavar="PATH", envvar="XMPPCTL_CONFIG", help="Config file [default: $XDG_CONFIG_HOME/xmppctl/config.toml].", show_default=False)] = None,
    account: Annotated[Optional[list[str]], typer.Option("--account", "-a", metavar="NAME", autocompletion=complete_account, help="Account from the config file [env: XMPPCTL_ACCOUNT; default: default_account]. Repeatable, and a shell glob ('bot-*') over the config's account names: several accounts run the command concurrently (fleet mode, see --all-accounts).", show_default=False)] = None,
    all_accounts: Annotated[bool, typer.Option("--all-accounts", help="Run the command for every account in the config file. " + FLEET_HELP)] = False,
    parallel: Annotated[int, typer.Option("--parallel", metavar="N", min=1, help="Fleet mode: at most N sessions open at once [default: 16].", show_default=False)] = DEFAULT_PARALLEL,
    jid: Annotated[Optional[str], typer.Option("--jid", metavar="JID", help="Log in as this bare JID [env: XMPPCTL_JID].", show_default=False)] = None,
    server: Annotated[Optional[str], typer.Option("--server", metavar="HOST", help="Connect to exactly HOST (no SRV lookup) instead of finding the JID's server by DNS [env: XMPPCTL_SERVER].", show_default=False)] = None,
    port: Annotated[Optional[int], typer.Option("--port", metavar="PORT", min=1, max=65535, help="TCP port; alone: the JID's domain on PORT, no SRV lookup [default: 5222, 5223 with --tls direct].", show_default=False)] = None,
    tls: Annotated[Optional[str], typer.Option("--tls", metavar="MODE", help="starttls or direct (TLS is always required) [default: starttls; by DNS, both kinds of SRV record are used, direct TLS first at equal priority unless starttls is set].", show_default=False)] = None,
    ca_file: Annotated[Optional[str], typer.Option("--ca-file", metavar="PATH", help="Trust only the CA certificates in PATH (PEM), instead of the system store.", show_default=False)] = None,
    timeout: Annotated[Optional[float], typer.Option("--timeout", metavar="SECONDS", min=0.001, help="Deadline for each network phase [default: 10].", show_default=False)] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Do not verify the server certificate (prints a warning); SCRAM only then, never PLAIN, so an impostor gets no password.")] = False,
    allow_plaintext: Annotated[bool, typer.Option("--allow-plaintext-loopback", help="Allow a server without TLS, only on a loopback address (127.0.0.0/8, ::1, localhost), checked again on the address actually connected to; SCRAM only, never PLAIN.")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input (on a terminal: prompted for, not echoed).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only on stderr: no summaries, notes or progress (warnings about security and received messages are still printed).")] = False,
    lock_wait: Annotated[float, typer.Option("--lock-wait", metavar="SECONDS", min=0, help="Commands that change an account's roster or subscriptions hold a per-account lock; wait up to SECONDS for another run to release it [default: 0: fail at once, exit 1, naming the run that holds it]. Read-only commands never wait.", show_default=False)] = 0.0,
    debug: Annotated[bool, typer.Option("--debug", help="Print the XML stream (SASL and password redacted) and tracebacks on stderr.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    ctx.obj = State(
        config_path=config,
        account=account[0] if account and len(account) == 1 else None,
        patterns=tuple(account or ()),
        all_accounts=all_accounts,
        parallel=parallel,
        jid=jid,
        server=server,
        port=port,
        tls=tls,
        ca_file=ca_file,
        timeout=timeout,
        insecure=insecure,
        allow_plaintext=allow_plaintext,
        password_stdin=password_stdin,
        debug=debug,
        quiet=quiet,
        lock_wait=lock_wait,
        session_factory=getattr(ctx.obj, "session_factory", None),
    )
    _STATE_HOLDER.append(ctx.obj)


def _option_name(arg: str) -> str:
    """``--name`` of ``--name=value``, ``-a`` of ``-abob``; the token itself otherwise."""
    if arg.startswith("--"):
        return arg.split("=", 1)[0]
    return arg[:2]


def _takes_value(param, arg: str) -> bool:
    """Whether the option in *arg* consumes the next token as its value."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return False
    return arg == _option_name(arg)  # no value attached (--opt=v, -ov)


def _options_of(command) -> dict[str, object]:
    return {name: p for p in command.params if p.param_type_name == "option" for name in (*p.opts, *p.secondary_opts)}


_ROOT: list = []


def root_command():
    """The click command tree of :data:`app`, built once per process (~20 ms a build: the global
    option hoisting and the run share it, and so do the many in-process runs of the tests)."""
    if not _ROOT:
        import typer.main

        _ROOT.append(typer.main.get_command(app))
    return _ROOT[0]


def hoist_global_options(args: list[str]) -> list[str]:
    """Move the global options given after the command to before it: ``roster list -a bob``.

    Every occurrence is moved, in order, with its value (``-a bob``, ``-abob``, ``--account=bob``).
    An option the command itself defines with the same name stays the command's; nothing after
    ``--`` is touched; a value of a command option is never taken for an option.
    """
    root = root_command()
    globals_ = _options_of(root)
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] not in ("-", "--"):  # the global options already first
        param = globals_.get(_option_name(args[i]))
        i += 2 if param is not None and _takes_value(param, args[i]) else 1
    head, moved, kept = args[:i], [], []
    command, own = root, {}
    rest = args[i:]
    j = 0
    while j < len(rest):
        arg = rest[j]
        if arg == "--":
            kept += rest[j:]
            break
        name = _option_name(arg)
        if arg.startswith("-") and arg != "-" and name not in own and name in globals_:
            take = 2 if _takes_value(globals_[name], arg) else 1
            if j + take > len(rest):  # its value is missing: moved, it would take the command's name
                kept.append(arg)
                break
            moved += rest[j:j + take]
        elif arg.startswith("-") and arg != "-":
            take = 2 if name in own and _takes_value(own[name], arg) else 1
            kept += rest[j:j + take]
        else:
            take = 1
            sub = getattr(command, "commands", {}).get(arg)
            if sub is not None:
                command, own = sub, _options_of(sub)
            kept.append(arg)
        j += take
    return head + moved + kept


def _command_of(args: list[str]) -> str | None:
    """The command named in *args* (global options first, as after hoisting), or None."""
    globals_ = _options_of(root_command())
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        param = globals_.get(_option_name(args[i]))
        i += 2 if param is not None and _takes_value(param, args[i]) else 1
    return args[i] if i < len(args) else None


def _output_hint(argv: list[str]) -> str | None:
    """The -o value from argv, so errors raised before a command runs can still be JSON."""
    for i, arg in enumerate(argv):
        if arg in ("-o", "--output") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--output="):
            return arg.split("=", 1)[1]
        if arg.startswith("-o") and len(arg) > 2 and not arg.startswith("--"):
            return arg[2:]
    return None


def _report(exc, fmt: str | None) -> int:
    """The error on stderr: one line, remote text in it (a server's error text, JIDs) escaped as
    in tables, or one ASCII JSON object with -o json/ndjson."""
    from ..text import safe_text, stderr_json

    if fmt == "json" or fmt == "ndjson":
        sys.stderr.write(stderr_json(exc.to_json()) + "\n")
    else:
        sys.stderr.write(f"xmppctl: {safe_text(exc.message)}\n")
    return int(exc.exit_code)


def main(argv: list[str] | None = None, *, session_factory=None) -> int:
    """Run the app and turn every outcome into an exit code (the console script: launch.entry).

    *session_factory* replaces the real login for every command (see ``State.session_factory``).
    """
    from ..errors import Interrupted

    args = list(sys.argv[1:] if argv is None else argv)
    if completion_requested():  # a shell asking for TAB completions (completions/*)
        enable_shell_completion()
    else:
        args = hoist_global_options(args)
    hint = _output_hint(args)
    try:
        code = _dispatch(args, hint, State(session_factory=session_factory))
    except KeyboardInterrupt:  # a signal while an outcome was being reported (launch.py absorbs any later one)
        code = _report(Interrupted("interrupted"), hint)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    return code


def _dispatch(args: list[str], hint: str | None, obj: State) -> int:
    """Run the app; every exception becomes a message on stderr and an exit code."""
    from ..errors import ExitCode, Interrupted, UsageError, XmppctlError

    debug = "--debug" in args
    code: int
    try:
        result = root_command().main(args=args, prog_name="xmppctl", standalone_mode=False, obj=obj)
        code = result if isinstance(result, int) else 0
        if code == int(ExitCode.INTERRUPTED):  # typer turns a KeyboardInterrupt outside run() into a silent Exit(130)
            code = _report(Interrupted("interrupted"), hint)
    except XmppctlError as exc:
        if debug:
            _print_traceback()
        st = _current_state()
        code = _report(exc, (st.output if st and st.output else hint))
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        code = _report(Interrupted("interrupted"), hint)
    except typer.TyperException as exc:  # parsing/usage errors (exit_code 2) and the like
        message = exc.format_message()
        if _command_of(args) == "check":  # a monitoring plugin: UNKNOWN (3), never 2 (CRITICAL)
            code = check_cli.usage_failure(args, our_wording(message))
        elif message.startswith("Usage:"):  # a group called without a command: its help, as is
            sys.stderr.write(message.rstrip("\n") + "\n")
            code = int(ExitCode.USAGE)
        else:
            message = our_wording(message)
            err = UsageError(message) if exc.exit_code == 2 else XmppctlError(message)
            code = _report(err, hint)
    except KeyboardInterrupt:
        code = _report(Interrupted("interrupted"), hint)
    except BrokenPipeError:  # e.g. `| head`: the reader is gone and took what it wanted: exit 0, silently
        _silence_stdout()
        code = int(ExitCode.OK)
    except SystemExit as exc:  # click turns EPIPE into sys.exit(1), even outside standalone mode
        if not isinstance(exc.__context__, BrokenPipeError):
            raise
        _silence_stdout()
        code = int(ExitCode.OK)
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            _print_traceback()
        code = _report(XmppctlError(f"internal error: {type(exc).__name__}: {exc}"), hint)
    return code


def _print_traceback() -> None:
    """--debug: the exception's traceback on stderr, with every password a login used redacted
    and each line escaped (an exception message may quote a server)."""
    import traceback

    from ..text import safe_lines

    text = traceback.format_exc()
    session = sys.modules.get("xmppctl.xmpp.session")  # only loaded, and so only holding passwords, after a login
    if session is not None:
        text = session.redact_trace(text)
    sys.stderr.write(safe_lines(text.rstrip("\n")) + "\n")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout replaced (tests) or already closed
        pass


def _current_state() -> State | None:
    return _STATE_HOLDER[-1] if _STATE_HOLDER else None
