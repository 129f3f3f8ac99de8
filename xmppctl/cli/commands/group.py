"""``xmppctl group ...``: groups are labels on roster items, so every edit rewrites items."""


from typing import Annotated

import typer

from ..roster_edit import ROWS_HELP
from ..context import DryRunOpt, OutputOpt, session, state
from ..run import run_fleet
from ..selection import across_accounts
from ..complete import complete_group, complete_jid

app = typer.Typer(help="List, rename and delete roster groups; add or drop a group on contacts.", no_args_is_help=True)

GroupArg = Annotated[str, typer.Argument(metavar="GROUP", autocompletion=complete_group, help="Group name.", show_default=False)]
JidsArg = Annotated[list[str], typer.Argument(metavar="JID...", autocompletion=complete_jid, help="Contacts (bare JIDs) already in the roster.", show_default=False)]


def _with_rows_help(fn):
    fn.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + ROWS_HELP
    return fn


async def _rows(sub, rows_of):
    """One account's roster, through *rows_of*, as rows."""
    from ...roster.items import fetch_roster

    async with session(sub) as s:
        return rows_of(await fetch_roster(s))


@app.command("list")
@across_accounts
def list_(
    ctx: typer.Context,
    with_members: Annotated[bool, typer.Option("--with-members", help="Also list each group's members.")] = False,
    output: OutputOpt = None,
) -> None:
    """List every group with its member count, sorted by name.

    Groups exist only as labels on contacts, so a group without members does not exist.
    JSON/NDJSON keys: group (string), count (integer), and with --with-members, members (list of
    JIDs, sorted).
    """
    from ...roster.groups import GROUP_COLUMNS, GROUP_COLUMNS_WITH_MEMBERS, list_groups

    st = state(ctx)
    fmt = st.output_format(output)
    columns = GROUP_COLUMNS_WITH_MEMBERS if with_members else GROUP_COLUMNS
    run_fleet(st, fmt, columns, lambda sub: _rows(sub, lambda r: [g.to_dict(with_members) for g in list_groups(r)]),
              empty="no groups")


@app.command("members")
@across_accounts
def members_(ctx: typer.Context, group: GroupArg, output: OutputOpt = None) -> None:
    """List the contacts in GROUP (an unknown group has no members: empty output, exit 0).

    JSON/NDJSON keys, as in `roster list`: jid, name (string or null), subscription, ask
    (boolean), groups (list of strings).
    """
    from ...roster.groups import members
    from ...roster.items import ITEM_COLUMNS
    from ...text import validate_group

    st = state(ctx)
    fmt = st.output_format(output)
    name = validate_group(group, "GROUP")
    run_fleet(st, fmt, ITEM_COLUMNS, lambda sub: _rows(sub, lambda r: [i.to_dict() for i in members(r, name)]),
              empty="no contacts in the group")


def _edit_members(ctx: typer.Context, group: str, jids: list[str], *, add: bool, dry_run: bool, output) -> None:
    """group add/remove: skip contacts already right, refuse unknown ones (xmppctl.roster.edits)."""
    from ...roster.edits import plan_group_members
    from ...jid import bare_jids
    from ...text import validate_group
    from ..roster_edit import edit_roster

    st = state(ctx)
    fmt = st.output_format(output)
    name = validate_group(group, "GROUP")
    wanted = bare_jids(jids)
    st.resolve_account()
    edit_roster(st, fmt, lambda current: plan_group_members(current, name, wanted, add=add), dry_run=dry_run, what="group")


@app.command("add")
@across_accounts
@_with_rows_help
def add(ctx: typer.Context, group: GroupArg, jids: JidsArg, dry_run: DryRunOpt = False, output: OutputOpt = None) -> None:
    """Put contacts into GROUP, keeping their other groups.

    A JID that is not in the roster fails with item-not-found (nothing is sent for it; the
    others are still applied); use `roster add` to create contacts.  A contact already in GROUP
    is skipped.
    """
    _edit_members(ctx, group, jids, add=True, dry_run=dry_run, output=output)


@app.command("remove")
@across_accounts
@_with_rows_help
def remove(ctx: typer.Context, group: GroupArg, jids: JidsArg, dry_run: DryRunOpt = False, output: OutputOpt = None) -> None:
    """Take contacts out of GROUP, keeping them and their other groups.

    A JID that is not in the roster fails with item-not-found (nothing is sent for it); a
    contact that is not in GROUP is skipped.
    """
    _edit_members(ctx, group, jids, add=False, dry_run=dry_run, output=output)


@app.command("rename")
@across_accounts
@_with_rows_help
def rename(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(metavar="OLD", autocompletion=complete_group, help="Current group name.", show_default=False)],
    new: Annotated[str, typer.Argument(metavar="NEW", help="New group name.", show_default=False)],
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Rename group OLD to NEW on every member, keeping their other groups.

    If NEW already exists the two groups merge.  One roster set per member, rewriting the
    whole item from the server's current copy.  OLD with no members: exit 6; OLD equal to NEW:
    exit 2.
    """
    from ...roster.edits import plan_group_rename
    from ...errors import UsageError
    from ...text import validate_group
    from ..roster_edit import edit_roster

    st = state(ctx)
    fmt = st.output_format(output)
    old_name, new_name = validate_group(old, "OLD"), validate_group(new, "NEW")
    if old_name == new_name:
        raise UsageError("OLD and NEW are the same group")
    st.resolve_account()

    edit_roster(st, fmt, lambda current: plan_group_rename(current, old_name, new_name), dry_run=dry_run, what="group")


@app.command("delete")
@across_accounts
@_with_rows_help
def delete(
    ctx: typer.Context,
    group: GroupArg,
    remove_contacts: Annotated[bool, typer.Option("--remove-contacts", help="Remove the group's contacts from the roster (this cancels their subscriptions both ways).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before removing contacts (required with --remove-contacts when stdin is not a terminal).")] = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Delete GROUP: drop it from every member and keep the contacts (and their other groups).

    With --remove-contacts the members are removed from the roster instead, which also cancels
    their subscriptions in both directions; it asks for confirmation on a terminal (declining
    exits 1, nothing sent) and needs --yes otherwise (exit 2 without it, nothing sent).  A group
    with no members: exit 6.
    """
    import sys

    from ...roster.edits import plan_group_delete
    from ...errors import UsageError
    from ...text import validate_group
    from ..roster_edit import edit_roster

    st = state(ctx)
    fmt = st.output_format(output)
    name = validate_group(group, "GROUP")
    ask = remove_contacts and not yes and not dry_run
    if ask and not sys.stdin.isatty():
        raise UsageError("--remove-contacts removes contacts: confirm with --yes (stdin is not a terminal)")
    st.resolve_account()

    async def confirm(plan) -> bool:
        from ..prompt import confirm as ask_user

        return await ask_user(f"Remove {len(plan.changes)} contact(s) in {name!r} from the roster "
                              "and cancel their subscriptions?")

    edit_roster(st, fmt, lambda current: plan_group_delete(current, name, remove_contacts=remove_contacts),
                dry_run=dry_run, confirm=confirm if ask else None, what="group")
