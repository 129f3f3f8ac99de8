"""``xmppctl account ...``: manage named accounts in the config file."""


from typing import Annotated, Optional

import typer

from .common import OutputOpt, render, state
from .complete import complete_account

app = typer.Typer(help="Manage named accounts in the config file (written with mode 0600).", no_args_is_help=True)

ACCOUNT_COLUMNS = ("name", "jid", "server", "port", "tls", "default", "password_source")


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name (letters, digits, '-', '_').")],
    jid: Annotated[str, typer.Option("--jid", help="The account's bare JID (user@domain).")],
    server: Annotated[Optional[str], typer.Option("--server", metavar="HOST", help="Connect to HOST instead of SRV/the JID's domain.", show_default=False)] = None,
    port: Annotated[Optional[int], typer.Option("--port", min=1, max=65535, help="TCP port.", show_default=False)] = None,
    tls: Annotated[Optional[str], typer.Option("--tls", metavar="MODE", help="starttls or direct.", show_default=False)] = None,
    ca_file: Annotated[Optional[str], typer.Option("--ca-file", metavar="PATH", help="Extra CA certificates (PEM) to trust.", show_default=False)] = None,
    password_command: Annotated[Optional[str], typer.Option("--password-command", metavar="CMD", help="Command whose first output line is the password (run without a shell).", show_default=False)] = None,
    timeout: Annotated[Optional[float], typer.Option("--timeout", min=0.001, help="Default deadline per network phase, seconds.", show_default=False)] = None,
    default_output: Annotated[Optional[str], typer.Option("--default-output", metavar="FORMAT", help="Output format when stdout is not a terminal: table, json, ndjson or csv.", show_default=False)] = None,
    store_password: Annotated[bool, typer.Option("--store-password", help="Store the password in the file, in clear text. It is taken only from --password-stdin or XMPPCTL_PASSWORD, never from a password command or the keyring.")] = False,
    make_default: Annotated[bool, typer.Option("--default", help="Make this the default account.")] = False,
) -> None:
    """Add or replace an account.  The password is stored only with --store-password."""
    from ..config import add_account, read_password_to_store
    from ..jid import parse_jid
    from ..text import check_text

    st = state(ctx)
    bare = parse_jid(jid, allow_resource=False, require_local=True).bare
    for option, value in (("--server", server), ("--ca-file", ca_file), ("--password-command", password_command)):
        if value is not None:  # the config file is UTF-8 TOML: it cannot hold undecodable bytes
            check_text(value, option, max_bytes=4096)
    password = None
    if store_password:
        password = read_password_to_store(bare, password_stdin=st.password_stdin)
    table = {
        "jid": bare,
        "server": server,
        "port": port,
        "tls": tls,
        "ca_file": ca_file,
        "password_command": password_command,
        "timeout": timeout,
        "output": default_output,
        "password": password,
    }
    config = st.config()
    add_account(config.path, name, table, make_default=make_default)
    typer.echo(f"account {name!r} saved in {config.path}", err=True)


@app.command("list")
def list_(ctx: typer.Context, output: OutputOpt = None) -> None:
    """List configured accounts (never shows passwords)."""
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
    render(st, rows, ACCOUNT_COLUMNS, fmt)


@app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Account name.", autocompletion=complete_account)]) -> None:
    """Remove an account from the config file."""
    from ..config import remove_account

    st = state(ctx)
    config = st.config()
    remove_account(config.path, name)
    typer.echo(f"account {name!r} removed from {config.path}", err=True)
