"""``xmppctl account ...``: manage named accounts in the config file, show and test them."""


from typing import Annotated, Any, Optional

import typer

from ..context import OutputOpt, render, run, session, state
from ..selection import one_account
from ..complete import complete_account

app = typer.Typer(help="Manage named accounts in the config file (written with mode 0600).", no_args_is_help=True)

ACCOUNT_COLUMNS = ("name", "jid", "server", "port", "tls", "default", "password_source")

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Account name.", autocompletion=complete_account, show_default=False)]
SelectedNameArg = Annotated[Optional[str], typer.Argument(
    metavar="NAME", autocompletion=complete_account, show_default=False,
    help="Account name [default: the account other commands would use: --account, XMPPCTL_ACCOUNT, default_account].")]
ServerOpt = Annotated[Optional[str], typer.Option("--server", metavar="HOST", help="Connect to HOST instead of SRV/the JID's domain.", show_default=False)]
PortOpt = Annotated[Optional[int], typer.Option("--port", metavar="PORT", min=1, max=65535, help="TCP port.", show_default=False)]
TlsOpt = Annotated[Optional[str], typer.Option("--tls", metavar="MODE", help="starttls or direct.", show_default=False)]
CaFileOpt = Annotated[Optional[str], typer.Option("--ca-file", metavar="PATH", help="Extra CA certificates (PEM) to trust.", show_default=False)]
PasswordCommandOpt = Annotated[Optional[str], typer.Option(
    "--password-command", metavar="CMD", show_default=False,
    help="Command whose first output line is the password; split like a shell would, run without one, "
         "stored as a list.")]
TimeoutOpt = Annotated[Optional[float], typer.Option("--timeout", metavar="SECONDS", min=0.001, help="Default deadline per network phase.", show_default=False)]
DefaultOutputOpt = Annotated[Optional[str], typer.Option("--default-output", metavar="FORMAT", help="Output format when stdout is not a terminal: table, json, ndjson or csv.", show_default=False)]
StorePasswordOpt = Annotated[bool, typer.Option(
    "--store-password",
    help="Store the password in the file, in clear text. It is taken only from --password-stdin, "
         "XMPPCTL_PASSWORD_<NAME> or XMPPCTL_PASSWORD, never from a password command or the keyring.")]
MakeDefaultOpt = Annotated[bool, typer.Option("--default", help="Make this the default account.")]


def _table_from_options(**options: Any) -> dict[str, Any]:
    """The account keys given on the command line (None: not given), checked like the config file."""
    from ...config import TLS_MODES
    from ...output import FORMATS
    from ...text import check_text

    for key in ("server", "ca_file", "password_command"):
        if options.get(key) is not None:  # the config file is UTF-8 TOML: it cannot hold undecodable bytes
            check_text(options[key], "--" + key.replace("_", "-"), max_bytes=4096)
    if options.get("tls") is not None and options["tls"] not in TLS_MODES:
        raise _usage(f"--tls: expected one of {', '.join(TLS_MODES)}, got {options['tls']!r}")
    if options.get("output") is not None and options["output"] not in FORMATS:
        raise _usage(f"--default-output: expected one of {', '.join(FORMATS)}, got {options['output']!r}")
    command = options.get("password_command")
    if command is not None:
        import shlex

        try:
            options["password_command"] = shlex.split(command)
        except ValueError as exc:
            raise _usage(f"--password-command: cannot split {command!r}: {exc}") from None
        if not options["password_command"]:
            raise _usage("--password-command: empty command")
    return options


def _usage(message: str) -> Exception:
    from ...errors import UsageError

    return UsageError(message)


@app.command("add")
@one_account('it edits the config file')
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Account name (letters, digits, '-', '_').", show_default=False)],
    jid: Annotated[str, typer.Option("--jid", metavar="JID", help="The account's bare JID (user@domain).", show_default=False)],
    server: ServerOpt = None,
    port: PortOpt = None,
    tls: TlsOpt = None,
    ca_file: CaFileOpt = None,
    password_command: PasswordCommandOpt = None,
    timeout: TimeoutOpt = None,
    default_output: DefaultOutputOpt = None,
    store_password: StorePasswordOpt = False,
    make_default: MakeDefaultOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing account NAME (the keys not given are dropped).")] = False,
) -> None:
    """Add an account; the first one becomes the default.  An existing NAME is replaced only with
    --force, and the message lists what changed; `account set` changes single keys.  The
    password is stored only with --store-password."""
    from ...config import add_account, read_password_to_store
    from ...jid import parse_jid

    st = state(ctx)
    bare = parse_jid(jid, allow_resource=False, require_local=True).bare
    table = _table_from_options(jid=bare, server=server, port=port, tls=tls, ca_file=ca_file,
                                password_command=password_command, timeout=timeout, output=default_output)
    if store_password:
        table["password"] = read_password_to_store(bare, name=name, password_stdin=st.password_stdin)
    change = add_account(st.config().path, name, table, make_default=make_default, replace=force)
    typer.echo(change.summary(), err=True)


@app.command("set")
@one_account('it edits the config file')
def set_(
    ctx: typer.Context,
    name: NameArg,
    jid: Annotated[Optional[str], typer.Option("--jid", metavar="JID", help="The account's bare JID (user@domain).", show_default=False)] = None,
    server: ServerOpt = None,
    port: PortOpt = None,
    tls: TlsOpt = None,
    ca_file: CaFileOpt = None,
    password_command: PasswordCommandOpt = None,
    timeout: TimeoutOpt = None,
    default_output: DefaultOutputOpt = None,
    store_password: StorePasswordOpt = False,
    make_default: MakeDefaultOpt = False,
    unset: Annotated[Optional[list[str]], typer.Option(
        "--unset", metavar="KEY", show_default=False,
        help="Remove KEY from the account (repeatable): server, port, tls, ca_file, password_command, "
             "password, timeout, output, insecure.")] = None,
) -> None:
    """Change some keys of account NAME and keep the others; checked like `account add`.  The
    message lists what changed."""
    from ...config import read_password_to_store, update_account
    from ...jid import parse_jid

    st = state(ctx)
    config = st.config()
    if name not in config.accounts:
        raise _usage(f"no account named {name!r} in {config.path} (add it with 'xmppctl account add')")
    bare = parse_jid(jid, allow_resource=False, require_local=True).bare if jid is not None else None
    values = _table_from_options(jid=bare, server=server, port=port, tls=tls, ca_file=ca_file,
                                 password_command=password_command, timeout=timeout, output=default_output)
    if store_password:
        owner = bare or config.accounts[name]["jid"]
        values["password"] = read_password_to_store(owner, name=name, password_stdin=st.password_stdin)
    if all(v is None for v in values.values()) and not unset and not make_default:
        raise _usage("account set: nothing to change (give an option such as --server, --unset KEY or --default)")
    change = update_account(config.path, name, values, unset=unset or (), make_default=make_default)
    typer.echo(change.summary(), err=True)


@app.command("list")
@one_account("it lists the config file's accounts")
def list_(ctx: typer.Context, output: OutputOpt = None) -> None:
    """List configured accounts (never shows passwords).

    password_source is what the config file holds: password_command, stored, or
    env/stdin/keyring; `account show` tells which source a command would use now.
    """
    st = state(ctx)
    fmt = st.output_format(output)
    config = st.config()
    rows = []
    for name, table in sorted(config.accounts.items()):
        source = "password_command" if table.get("password_command") else ("stored" if table.get("password") else "env/stdin/keyring")
        rows.append(
            {
                "name": name,
                "jid": table["jid"],
                "server": table.get("server"),
                "port": table.get("port"),
                "tls": table.get("tls", "starttls"),
                "default": name == config.default_account,
                "password_source": source,
            }
        )
    render(st, rows, ACCOUNT_COLUMNS, fmt, empty="no accounts")


def _select(st: Any, name: str | None) -> None:
    """Make NAME the account the command works on (global options and XMPPCTL_* still apply)."""
    if name is not None:
        st.account = name


@app.command("show")
@one_account("it shows one account's settings")
def show(ctx: typer.Context, name: SelectedNameArg = None, output: OutputOpt = None) -> None:
    """Show an account as commands would use it, and where its password would come from; never
    the password, and without running a password command.

    Keys: name, config (the file), default, jid, server, port, tls, ca_file, timeout, output,
    insecure, password_command (list or null), password_stored (boolean), password_env (the
    account's own variable XMPPCTL_PASSWORD_<NAME>), password_source (what a command would
    use now), password_overrides (a configured source that it takes precedence over, or null),
    overridden (keys whose value comes from a global option or an XMPPCTL_* variable).
    """
    from ...config import password_env_var, password_source
    from ...output import render_object

    st = state(ctx)
    _select(st, name)
    fmt = st.output_format(output)
    account = st.resolve_account()
    config = st.config()
    source = password_source(account, password_stdin=st.password_stdin)
    record = {
        "name": account.name,
        "config": str(config.path),
        "default": account.name is not None and account.name == config.default_account,
        "jid": account.jid,
        "server": account.server,
        "port": account.port,
        "tls": account.tls,
        "ca_file": account.ca_file,
        "timeout": account.timeout,
        "output": account.output,
        "insecure": account.insecure,
        "password_command": account.password_command,
        "password_stored": account.password is not None,
        "password_env": password_env_var(account.name),
        "password_source": source.label,
        "password_overrides": source.overrides,
        "overridden": _overridden(config, account),
    }
    render_object(record, fmt)


def _overridden(config: Any, account: Any) -> list[str]:
    """The settings of a configured account that global options or XMPPCTL_* variables changed."""
    from ...config import resolve_account

    if account.name is None:
        return []
    stored = resolve_account(config, account=account.name, env={})
    keys = ("jid", "server", "port", "tls", "ca_file", "timeout", "insecure")
    return [k for k in keys if getattr(stored, k) != getattr(account, k)]


@app.command("test")
@one_account("it reports one account's login")
def test(ctx: typer.Context, name: SelectedNameArg = None, output: OutputOpt = None) -> None:
    """Log in as an account, report how, and log out; exit codes as for any command (3 wrong
    password, 4 connection/TLS, 5 timeout...).  Sends no presence and changes nothing.

    Keys: name, jid, bound_jid, server (host:port connected to), found (how that server was
    found: SRV, XEP-0368, fallback, --server or --port), tls_mode (starttls or direct), address
    (peer IP), tls_version,
    tls_cipher, sasl_mechanism, server_software (XEP-0092 name and version, or null when the
    server does not say), password_source.
    """
    from ...login_report import login_report
    from ...output import render_object

    st = state(ctx)
    _select(st, name)
    fmt = st.output_format(output)
    account = st.resolve_account()

    async def job(_stop: Any) -> dict[str, Any]:
        async with session(st) as s:
            return await login_report(s)

    facts = run(job)
    record = {"name": account.name, "jid": account.jid, **facts,
              "password_source": st.password_source.describe() if st.password_source else None}
    render_object(record, fmt)


@app.command("remove")
@one_account('it edits the config file')
def remove(
    ctx: typer.Context,
    name: NameArg,
    force: Annotated[bool, typer.Option("--force", help="Also remove the default account (no account becomes the default).")] = False,
) -> None:
    """Remove an account from the config file.  The default account is removed only with
    --force; no other account is made the default then."""
    from ...config import remove_account

    st = state(ctx)
    change = remove_account(st.config().path, name, force=force)
    typer.echo(change.summary(), err=True)
