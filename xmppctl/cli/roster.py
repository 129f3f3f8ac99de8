"""``xmppctl roster ...``: read and edit the roster."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import OutputOpt, render, run, session, state
from .complete import complete_group, save_roster_cache

app = typer.Typer(help="List and edit roster items (contacts).", no_args_is_help=True)


class Subscription(str, Enum):
    none = "none"
    to = "to"
    from_ = "from"
    both = "both"


@app.command("list")
def list_(
    ctx: typer.Context,
    group: Annotated[Optional[list[str]], typer.Option("--group", "-g", metavar="GROUP", autocompletion=complete_group, help="Only contacts in GROUP (repeatable: any of them).", show_default=False)] = None,
    subscription: Annotated[Optional[Subscription], typer.Option("--subscription", "-s", help="Only contacts with this subscription state.", show_default=False)] = None,
    pending: Annotated[bool, typer.Option("--pending", help="Only contacts we asked to subscribe to and who have not answered (ask=subscribe).")] = False,
    ungrouped: Annotated[bool, typer.Option("--ungrouped", help="Only contacts in no group.")] = False,
    output: OutputOpt = None,
) -> None:
    """List the roster: jid, name, subscription, ask (our request pending), groups; sorted by JID.

    JSON/NDJSON keys: jid (string), name (string or null), subscription
    (none|to|from|both), ask (boolean), groups (list of strings).
    """
    from ..roster import ITEM_COLUMNS, fetch_roster, filter_items

    st = state(ctx)
    fmt = st.output_format(output)
    st.resolve_account()

    async def job(_stop):
        async with session(st) as s:
            return await fetch_roster(s)

    roster = run(job)
    # what TAB offers for --group and JIDs (completions never go to the network)
    save_roster_cache(st.resolve_account().jid, roster)
    items = filter_items(
        roster,
        groups=group or (),
        subscription=subscription.value if subscription else None,
        pending=pending,
        ungrouped=ungrouped,
    )
    render(st, (item.to_dict() for item in items), ITEM_COLUMNS, fmt)
