"""``xmppctl team sync TEAM.toml``: every member lists every other, in one group, subscription both.

The plan is pure (xmppctl/fleet/team.py), the run is the library's (xmppctl/fleet/team_sync.py); this
module validates the command line and the team file, calls :func:`xmppctl.fleet.team_sync.sync_team`
and renders its result.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..context import DryRunOpt, OutputOpt, note, render, run, session, state
from ..selection import one_account

if TYPE_CHECKING:
    from ...fleet.team_sync import TeamRun
    from ..context import State

app = typer.Typer(help="Team rosters across your own accounts (see `team sync`).", no_args_is_help=True)

#: keys of a result row (one per member), in this order
REPORT_COLUMNS = ("account", "jid", "status", "roster_sets", "presences", "error", "message")


@app.command("sync")
@one_account('the team file names its accounts')
def sync(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="TEAM.toml", help="The team file.", show_default=False)],
    dry_run: DryRunOpt = False,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 10 when the team was not converged (with --dry-run: nothing sent; otherwise it converged in this run).")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Take former members (configured accounts in the team group but not in the file) out of the team group on every member's roster; an item whose only group it was is removed, after a backup export.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --prune removes contacts (required when standard input is not a terminal).")] = False,
    output: OutputOpt = None,
) -> None:
    """Make every member list every other member: that name, in the team group, subscription both.

    The team file (TOML): `group = "Ops"` and one `[[member]]` table per account, with
    `account` (a name from the config file) and optional `name` (how the others list it;
    default: the local part of its JID).  The file is validated whole before anything is sent
    (FILE:LINE: FIELD: message, exit 2).  Every member logs in at once, in one process, with its
    own password source; then roster sets are sent (the team group is added to an item's other
    groups, which are kept), then subscription requests and approvals (pre-approval where the
    server advertises it), and the rosters are read again.  Contacts outside the team are never
    touched.  A converged team sends no roster set and no presence.  --parallel N only bounds
    how many members log in at the same time: every member's session stays open for the whole
    run, since the subscription handshakes need both sides online.

    --prune: a configured account that is not in the file but is in the team group on a
    member's roster loses that group there; if it was the item's only group the item is removed
    (and with it both subscriptions, RFC 6121 §2.5.2); the former member's own roster is not
    edited.  Each roster that loses an item is first exported to a timestamped backup file next
    to TEAM.toml (path on stderr unless --quiet), and the combined plan is confirmed once.

    Prints one row per member: account, jid, status (converged|failed|not-converged),
    roster_sets and presences (how many were sent), error and message (null unless failed).
    With --dry-run: one row per member and contact touched: account, action
    (add|update|remove|none), jid, changes (list of {field, old, new}), handshake (steps this
    account would send: preapprove, request, approve).  Exit 7 when some members failed (the
    others converged; a re-run completes the team), the common code when all failed alike.
    """
    from ...errors import UsageError
    from ...fleet.team import check_member_jids, load_team_file

    st = state(ctx)
    fmt = st.output_format(output)
    if st.patterns or st.all_accounts or st.jid:
        raise UsageError("team sync: the team file names its accounts; do not pass -a, --all-accounts or --jid")
    if st.password_stdin:
        raise UsageError("team sync: --password-stdin reads one password; use each account's password source")
    if prune and not dry_run and not yes and not sys.stdin.isatty():
        raise UsageError("--prune may remove contacts: pass --yes to confirm (standard input is not a terminal)")
    from ...config import check_several_accounts_env

    config = st.config()
    team = load_team_file(file, config.accounts.keys())
    check_several_accounts_env(f"team sync logs in as {len(team.accounts)} accounts")
    members = {name: st.for_account(name) for name in team.accounts}
    accounts = {name: sub.resolve_account() for name, sub in members.items()}
    jids = check_member_jids(team, {name: account.jid for name, account in accounts.items()})
    configured = {name: table["jid"] for name, table in config.accounts.items() if isinstance(table.get("jid"), str)}
    from pathlib import Path

    from ...fleet.team_sync import sync_team
    from ..prompt import confirm

    def open_session(name: str) -> Any:
        return session(members[name], subscriptions_expected=True, changes=not dry_run)

    outcome = run(lambda _stop: sync_team(
        team, jids, open_session, timeouts={name: a.timeout for name, a in accounts.items()},
        parallel=st.parallel, dry_run=dry_run, configured=configured if prune else None,
        confirm=None if yes else confirm, backup_dir=Path(file).parent, note=lambda line: note(st, f"xmppctl: {line}")))
    raise typer.Exit(_finish(st, outcome, jids, fmt, dry_run=dry_run, exit_code=exit_code))


# ---- the report ------------------------------------------------------------------------------


def _finish(st: State, outcome: TeamRun, jids: dict[str, str], fmt: str, *, dry_run: bool, exit_code: bool) -> int:
    """The report: the plan (dry run) or one row per member; the code by the one exit rule."""
    from ...fleet.run import error_line, error_row, fleet_exit_code
    from ...fleet.team import ROW_COLUMNS

    results = outcome.outcomes(dry_run=dry_run, exit_code=exit_code)
    rows: list[dict[str, Any]] = []
    for result in results:
        name, error = result.account, result.error
        if dry_run:
            if error is not None:
                if fmt in ("json", "ndjson"):
                    rows.append(error_row(name, error))
                else:
                    sys.stderr.write(error_line(name, error) + "\n")
            continue
        member = outcome.members[name]
        err = error_row(name, error) if error is not None else {}
        rows.append({"account": name, "jid": jids[name], "status": outcome.status(name, result),
                     "roster_sets": member.roster_sets, "presences": member.presences,
                     "error": err.get("error"), "message": err.get("message")})
    first = outcome.first
    if dry_run:
        render(st, (first.rows() if first is not None else []) + rows, ROW_COLUMNS, fmt, empty=None)
        if fmt == "table" and first is not None:
            counts = first.counts()
            note(st, "dry run: nothing was sent; " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
                 if any(counts.values()) else "dry run: the team is converged; nothing to send")
    else:
        render(st, rows, REPORT_COLUMNS, fmt)
    return fleet_exit_code(results)
