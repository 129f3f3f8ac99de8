"""``xmppctl sub ...``."""

from __future__ import annotations

import typer

app = typer.Typer(help="Presence subscriptions: request, approve, deny, cancel, revoke, pending, pre-approve.", no_args_is_help=True)
