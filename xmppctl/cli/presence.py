"""``xmppctl presence ...``."""

from __future__ import annotations

import typer

app = typer.Typer(help="Set presence, take a presence snapshot (probe), or watch presence changes.", no_args_is_help=True)
