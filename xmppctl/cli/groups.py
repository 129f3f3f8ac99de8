"""``xmppctl group ...``."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, rename and delete roster groups; add or drop a group on contacts.", no_args_is_help=True)
