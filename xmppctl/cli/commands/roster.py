"""``xmppctl roster ...``: read and edit the roster."""


from contextlib import AsyncExitStack
from enum import Enum
from typing import Annotated, Optional

import typer

from ...roster.items import SUBSCRIPTIONS
from ..roster_edit import ROWS_HELP
from ..context import DryRunOpt, OutputOpt, State, note, render, run, session, state
from ..selection import across_accounts, one_account
from ..metrics_out import MetricsOutputOpt, TextfileOpt, metrics_format
from ..complete import complete_group, complete_jid, save_roster_cache

app = typer.Typer(help="List and edit roster items (contacts).", no_args_is_help=True)


#: --subscription choices: the roster's subscription states
Subscription = Enum("Subscription", {v: v for v in SUBSCRIPTIONS}, type=str)


@app.command("list")
@across_accounts
def list_(
    ctx: typer.Context,
    group: Annotated[Optional[list[str]], typer.Option("--group", "-g", metavar="GROUP", autocompletion=complete_group, help="Only contacts in GROUP (repeatable: any of them).", show_default=False)] = None,
    subscription: Annotated[Optional[Subscription], typer.Option("--subscription", "-s", help="Only contacts with this subscription state.", show_default=False)] = None,
    pending: Annotated[bool, typer.Option("--pending", help="Only contacts we asked to subscribe to and who have not answered (ask=subscribe).")] = False,
    ungrouped: Annotated[bool, typer.Option("--ungrouped", help="Only contacts in no group.")] = False,
    output: MetricsOutputOpt = None,
    textfile: TextfileOpt = None,
) -> None:
    """List the roster: jid, name, subscription, ask (our request pending), groups; sorted by JID.

    JSON/NDJSON keys: jid (string), name (string or null), subscription
    (none|to|from|both), ask (boolean), groups (list of strings).

    -o prometheus (or --textfile PATH): counts instead of rows, for the selected contacts:
    xmppctl_roster_contacts{account,subscription} (every state, 0 included),
    xmppctl_subscription_requests_pending{account,direction="out"} (our requests not answered
    yet), and the login metrics (xmppctl_login_success, _duration_seconds,
    xmppctl_tls_certificate_expiry_timestamp_seconds).
    """
    st = state(ctx)
    fmt = metrics_format(st, output, textfile)
    st.resolve_account()  # a bad account or JID is answered before anything heavy is imported

    from ...roster.items import ITEM_COLUMNS, fetch_roster, filter_items
    from ..run import run_fleet

    def selected(roster):
        return filter_items(roster, groups=group or (), subscription=subscription.value if subscription else None,
                            pending=pending, ungrouped=ungrouped)

    async def rows(sub):
        async with session(sub) as s:
            roster = await fetch_roster(s)
        # what TAB offers for --group and JIDs (completions never go to the network)
        save_roster_cache(sub.resolve_account().jid, roster)
        return [item.to_dict() for item in selected(roster)]

    if fmt == "prometheus":
        from ...metrics import add_roster
        from ..metrics_out import measured_session, run_metrics

        async def gather(sub, login):
            async with measured_session(sub, login) as s:
                items = selected(await fetch_roster(s))
            return lambda doc, account: add_roster(doc, account, items)

        run_metrics(st, textfile, gather)
    run_fleet(st, fmt, ITEM_COLUMNS, rows, empty="no contacts")


# ---- editing: add, remove, set, show ---------------------------------------------------------
# Each edit fetches the roster in its own session and rewrites whole items (see cli/roster_edit.py).

JidArg = Annotated[str, typer.Argument(metavar="JID", autocompletion=complete_jid, help="The contact's bare JID (user@domain).", show_default=False)]
GroupOpt = Annotated[Optional[list[str]], typer.Option("--group", "-g", metavar="GROUP", autocompletion=complete_group, help="Put the contact in GROUP (repeatable); replaces its groups.", show_default=False)]


def _with_rows_help(fn):
    fn.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + ROWS_HELP
    return fn


@app.command("add")
@across_accounts
@_with_rows_help
def add(
    ctx: typer.Context,
    jid: JidArg,
    name: Annotated[Optional[str], typer.Option("--name", metavar="NAME", help="Display name.", show_default=False)] = None,
    group: GroupOpt = None,
    subscribe: Annotated[bool, typer.Option("--subscribe", help="Also ask the contact for a presence subscription (presence type=subscribe).")] = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Add a contact, or update it if it is already in the roster.

    On an existing contact only what is given changes: --name replaces the name and --group
    replaces the set of groups (use `roster set --add-group` to add one); the rest of the item is
    kept.  --subscribe sends the subscription request after the roster set (even when the item was
    already up to date); its row has action "subscribe".
    """
    from ...roster.edits import plan_add
    from ...jid import bare_jid
    from ...text import validate_groups, validate_name
    from ..roster_edit import edit_roster

    st = state(ctx)
    fmt = st.output_format(output)
    bare = bare_jid(jid)
    new_name = validate_name(name, "--name")
    groups = validate_groups(group, "--group") if group else None
    st.resolve_account()
    edit_roster(st, fmt, lambda current: plan_add(current, bare, name=new_name, groups=groups, subscribe=subscribe),
                dry_run=dry_run)


@app.command("remove")
@across_accounts
@_with_rows_help
def remove(
    ctx: typer.Context,
    jids: Annotated[list[str], typer.Argument(metavar="JID...", autocompletion=complete_jid, help="Contacts to remove (bare JIDs).", show_default=False)],
    missing_ok: Annotated[bool, typer.Option("--missing-ok", help="Skip contacts that are not in the roster instead of failing on them.")] = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Remove contacts from the roster.

    The server then cancels the subscriptions in both directions: it sends unsubscribe and
    unsubscribed to the contact on your behalf (RFC 6121 §2.5.2), so re-adding the contact later
    needs a new subscription request and approval.  A JID that is not in the roster fails with
    item-not-found and nothing is sent for it (exit 6, or 7 when other contacts were removed),
    unless --missing-ok skips it.
    """
    from ...roster.edits import plan_remove
    from ...jid import bare_jids
    from ..roster_edit import edit_roster

    st = state(ctx)
    fmt = st.output_format(output)
    wanted = bare_jids(jids)
    st.resolve_account()
    edit_roster(st, fmt, lambda current: plan_remove(current, wanted, missing_ok=missing_ok), dry_run=dry_run)


@app.command("set")
@across_accounts
@_with_rows_help
def set_(
    ctx: typer.Context,
    jid: JidArg,
    name: Annotated[Optional[str], typer.Option("--name", metavar="NAME", help="New display name.", show_default=False)] = None,
    no_name: Annotated[bool, typer.Option("--no-name", help="Remove the display name.")] = False,
    group: Annotated[Optional[list[str]], typer.Option("--group", "-g", metavar="GROUP", autocompletion=complete_group, help="Replace the contact's groups with these (repeatable).", show_default=False)] = None,
    add_group: Annotated[Optional[list[str]], typer.Option("--add-group", metavar="GROUP", autocompletion=complete_group, help="Add GROUP, keep the others (repeatable).", show_default=False)] = None,
    remove_group: Annotated[Optional[list[str]], typer.Option("--remove-group", metavar="GROUP", autocompletion=complete_group, help="Drop GROUP, keep the others (repeatable).", show_default=False)] = None,
    no_groups: Annotated[bool, typer.Option("--no-groups", help="Take the contact out of every group.")] = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Change a contact's name and/or groups; everything not asked for is kept.

    --name and --no-name exclude each other; --group and --no-groups exclude each other and
    --add-group/--remove-group (which may be combined).  Conflicting or no options: exit 2.  A JID
    not in the roster: exit 6 (item-not-found), nothing sent; use `roster add` to create it.
    """
    from ...roster.edits import plan_set
    from ...errors import UsageError
    from ...roster.groups import KEEP
    from ...jid import bare_jid
    from ...text import validate_groups, validate_name
    from ..roster_edit import edit_roster

    st = state(ctx)
    fmt = st.output_format(output)
    bare = bare_jid(jid)
    if name is not None and no_name:
        raise UsageError("--name and --no-name exclude each other")
    if group and (add_group or remove_group or no_groups):
        raise UsageError("--group replaces all groups: do not combine it with --add-group, --remove-group or --no-groups")
    if no_groups and (add_group or remove_group):
        raise UsageError("--no-groups does not combine with --add-group or --remove-group")
    if name is not None and validate_name(name, "--name") is None:
        raise UsageError("--name: empty name (use --no-name to remove the name)")
    adds = validate_groups(add_group or (), "--add-group")
    drops = validate_groups(remove_group or (), "--remove-group")
    if set(adds) & set(drops):
        raise UsageError(f"--add-group and --remove-group both name {sorted(set(adds) & set(drops))[0]!r}")
    groups = validate_groups(group, "--group") if group else (() if no_groups else None)
    if name is None and not no_name and groups is None and not adds and not drops:
        raise UsageError("nothing to change: give --name, --no-name, --group, --add-group, --remove-group or --no-groups")
    new_name = None if no_name else (KEEP if name is None else name)
    st.resolve_account()

    edit_roster(st, fmt, lambda current: plan_set(current, bare, name=new_name, groups=groups, add=adds, remove=drops),
                dry_run=dry_run)


@app.command("show")
@across_accounts
def show(ctx: typer.Context, jid: JidArg, output: OutputOpt = None) -> None:
    """Show one contact with all its fields.

    JSON keys: jid (string), name (string or null), subscription (none|to|from|both), ask
    (boolean: our subscription request is pending), groups (list of strings).  A JID not in the
    roster: exit 6 (item-not-found).
    """
    from ...errors import ServerRefused
    from ...jid import bare_jid
    from ...output import render_object
    from ...roster.items import ITEM_COLUMNS, fetch_roster
    from ..run import run_fleet

    st = state(ctx)
    fmt = st.output_format(output)
    bare = bare_jid(jid)

    async def rows(sub):
        async with session(sub) as s:
            item = next((i for i in await fetch_roster(s) if i.jid == bare), None)
        if item is None:
            raise ServerRefused(f"{bare} is not in the roster (item-not-found)", condition="item-not-found")
        return [item.to_dict()]

    # one account prints the object itself; several, one row per account
    run_fleet(st, fmt, ITEM_COLUMNS, rows, render_one=lambda found: render_object(found[0], fmt))


# ---- bulk: export, import, diff --------------------------------------------------------------
# Files are read and validated whole before login (xmppctl/roster/files); the plan is the pure
# roster.plan_roster; rows are rendered by xmppctl/output.py like the single-item edits.


class FileFormat(str, Enum):
    toml = "toml"
    json = "json"
    csv = "csv"
    xep0227 = "xep0227"


FileArg = Annotated[str, typer.Argument(metavar="FILE", help="Roster file (TOML, JSON, CSV or XEP-0227); - reads standard input.", show_default=False)]
UserOpt = Annotated[Optional[str], typer.Option("--user", metavar="JID", help="The user to take from a multi-user XEP-0227 file [default: the only user, else the account's JID].", show_default=False)]
FileFormatOpt = Annotated[Optional[FileFormat], typer.Option("--format", "-f", help="File format [default: from the file extension, else guessed from the content].", show_default=False, case_sensitive=False)]
PruneOpt = Annotated[bool, typer.Option("--prune", help="Also remove contacts that are not in the file.")]
GroupsOnlyOpt = Annotated[bool, typer.Option("--groups-only", help="Synchronise groups only; leave names as they are.")]
NamesOnlyOpt = Annotated[bool, typer.Option("--names-only", help="Synchronise names only; leave groups as they are.")]

FILE_HELP = """
    File formats: TOML ([[contact]] tables with jid, name, groups), JSON (a list of objects with
    the keys of `roster list -o json`), CSV (header jid,name,groups; groups separated by ';').
    subscription and ask are read-only: exported for information, ignored on import.  XEP-0227
    (portable export, e.g. ejabberd's export_piefxis, Prosody's mod_storage_xep0227, `roster
    export -o xep0227`; .xml or detected from the content): both namespaces, XInclude'd host
    files next to the file, multi-user dumps (--user JID); credentials in it are skipped.  Its
    subscription states and pending requests are shown by `roster diff`, never sent.  The whole
    file is validated before anything is sent: a bad JID, a duplicate JID, an empty group, an
    unknown key or a wrong type exits 2 naming the file, the line (TOML, CSV) or the item index
    (JSON) and the field.
"""


def _with_file_help(fn):
    fn.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + FILE_HELP
    return fn


def _read_desired(st, path: str, file_format: FileFormat | None, user: str | None = None):
    """The whole file (a roster.files.RosterSource), validated before any login."""
    from ...errors import UsageError
    from ...roster.files import load_roster_source

    if path == "-" and st.password_stdin:
        raise UsageError("FILE '-' and --password-stdin both need standard input; use a file or another password source")
    account_jid = st.resolve_account().jid if st.fleet_accounts is None else None
    source = load_roster_source(path, file_format.value if file_format else None, user=user, account_jid=account_jid)
    orphans = source.orphan_requests
    if orphans:
        listing = ", ".join(orphans[:5]) + (" …" if len(orphans) > 5 else "")
        note(st, f"xmppctl: {path}: {len(orphans)} pending subscription request(s) without a roster item "
                 f"(ejabberd's export drops their names and groups): {listing}; they must ask again")
    return source


def _sync_fields(groups_only: bool, names_only: bool) -> dict[str, bool]:
    from ...errors import UsageError

    if groups_only and names_only:
        raise UsageError("--groups-only and --names-only exclude each other")
    return {"names": not groups_only, "groups": not names_only}


def _plan_summary(counts: dict[str, int], verb: str) -> str:
    return (f"{counts['add']} to add, {counts['update']} to update, {counts['remove']} to remove, "
            f"{counts['unchanged']} unchanged; {verb}")


@app.command("export")
@across_accounts
def export(
    ctx: typer.Context,
    output: Annotated[Optional[FileFormat], typer.Option("--output", "-o", help="Format: toml, json, csv or xep0227 [default: from the extension of --file (.xml: xep0227), else toml].", show_default=False, case_sensitive=False)] = None,
    output_file: Annotated[Optional[str], typer.Option("--file", metavar="FILE", help="Write to FILE (atomically: a temporary file, then a rename) instead of standard output.", show_default=False)] = None,
    old_format: Annotated[Optional[FileFormat], typer.Option("--format", "-f", hidden=True, case_sensitive=False)] = None,
    old_file: Annotated[Optional[str], typer.Option("--output-file", "-O", hidden=True)] = None,
) -> None:
    """Export the whole roster (jid, name, subscription, ask, groups; subscription and ask for
    information, ignored on import).

    -o/--output is the format, as for every command; --file names the file (long only: a short
    -O would differ from -o only by case).  The format is -o, else the extension of --file,
    else TOML.  Importing the export into an empty account gives the same names and groups.
    -o xep0227 writes a single-user XEP-0227 file (server-data/host/user) that ejabberd's
    import_piefxis loads too: items with jid, name, subscription, ask, groups, and the pending
    inbound requests as <presence type='subscribe'/> (collected as `sub pending` does); never
    credentials.

    Fleet mode (several accounts): --file must contain {account}, replaced by each account's
    name (--file 'rosters/{account}.toml'); without it, or when two accounts would write the
    same file, exit 2 before any login.  Each account's roster is written atomically to its own
    file; stdout stays empty (-o is the files' format), and stderr gets one line per account:
    "xmppctl: NAME: exported N contact(s) to PATH" (not with --quiet), or the error of an
    account that failed (the others are exported; exit 7).
    """
    import sys

    from ...errors import UsageError
    from ...roster.files import FORMATS, check_exportable, write_roster, write_roster_path
    from ...roster.files.read import EXTENSIONS

    st = state(ctx)
    if (output and old_format) or (output_file and old_file):
        raise UsageError("give the format once (-o) and the file once (--file)")
    file_format, output_file = output or old_format, output_file or old_file
    to_stdout = output_file in (None, "-")
    if file_format is not None:
        fmt = file_format.value
    else:
        ext = (output_file or "").rpartition(".")[2].lower() if not to_stdout else ""
        ext = EXTENSIONS.get(ext, ext)
        fmt = ext if ext in FORMATS else "toml"
    from ...fleet.run import export_paths
    from ..run import finish, run_jobs

    names = st.fleet_accounts
    paths = export_paths(output_file, names) if names is not None else {st.account or "": output_file}
    fetched = {}

    async def job(sub):
        fetched[sub.account or ""] = await export_snapshot(sub, fmt)
        return []

    outcomes = run_jobs(st, job)
    # written after the event loop, where a signal interrupts the write itself (no partial file)
    for outcome in outcomes:
        if outcome.error is not None:
            continue
        (items, pending), path = fetched[outcome.account], paths[outcome.account]
        jid = (st.for_account(outcome.account) if names is not None else st).resolve_account().jid
        if path in (None, "-"):
            check_exportable(items, fmt)
            write_roster(items, fmt, sys.stdout, account_jid=jid, pending_in=pending)
            continue
        try:
            written = write_roster_path(items, fmt, path, account_jid=jid, pending_in=pending)
        except Exception as exc:  # noqa: BLE001 - this account's file; the others are still written
            outcome.error = exc
            continue
        who = f"{outcome.account}: " if names is not None else ""
        note(st, f"xmppctl: {who}exported {len(items)} contact(s) to {written}")
    finish(st, outcomes, None, fmt)  # the rosters went to files (or stdout), not into a document


async def export_snapshot(st, fmt: str):
    """(roster, pending inbound requests) for an export; the requests only for XEP-0227, which
    carries them (collected the way `sub pending` does: offline messages stay stored)."""
    from ...roster.items import fetch_roster

    if fmt != "xep0227":
        async with session(st) as s:
            return await fetch_roster(s), ()
    from ...subscriptions import PresenceWatcher, collect_pending

    watcher = PresenceWatcher()
    async with session(st, stanza_hook=watcher, subscriptions_expected=True) as s:
        inbound, roster = await collect_pending(s, watcher)
    return roster, tuple(sorted(inbound))


class _ProgressBar:
    """``[#####.....] 312/1000`` on stderr, only when stderr is a terminal; redrawn at most 10×/s."""

    def __init__(self, total: int, label: str = "roster sets"):
        import sys

        self.total, self.label, self.done, self.last = total, label, 0, 0.0
        self.enabled = total > 1 and sys.stderr.isatty()
        self.shown = False

    def __call__(self, _result=None) -> None:
        import time

        self.done += 1
        now = time.monotonic()
        if self.enabled and (now - self.last >= 0.1 or self.done == self.total):
            self.last = now
            self._draw()

    def _draw(self) -> None:
        import sys

        width = 30
        filled = width * self.done // max(self.total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {self.label}")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        import sys

        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.shown = False


def _parse_rate(text: str) -> float:
    from ...errors import UsageError

    value = text.strip().lower().removesuffix("/s").strip()
    try:
        rate = float(value)
    except ValueError:
        raise UsageError(f"--rate {text!r}: expected N/s, e.g. 5/s") from None
    if not 0 < rate <= 1000:
        raise UsageError(f"--rate {text!r}: must be more than 0 and at most 1000 per second")
    return rate


def _interrupted_summary(report) -> str:
    """What an interrupted import had applied (from the report it kept filling)."""
    done, total, subscribed = report.applied(), len(report.plan.changes), len(report.subscribed)
    applied = done["add"] + done["update"] + done["remove"]
    text = (f"xmppctl: interrupted: applied {applied} of {total} roster changes "
            f"({done['add']} added, {done['update']} updated, {done['remove']} removed"
            + (f", {done['failed']} failed" if done["failed"] else "") + ")")
    if subscribed:
        text += f"; {subscribed} subscription request(s) sent"
    return text + "; sets still in flight may also have been applied; run the import again to finish\n"


class _ImportProgress:
    """Draws the progress bar from the live import report and keeps it for the interrupt summary."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.report = None
        self.bar: _ProgressBar | None = None
        self.quiet = quiet

    def __call__(self, report) -> None:
        if self.bar is None:
            self.report, self.bar = report, _ProgressBar(len(report.plan.changes))
            self.bar.enabled = self.bar.enabled and not self.quiet
        while self.bar.done < len(report.results):
            self.bar()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@app.command("import")
@across_accounts
@_with_file_help
def import_(
    ctx: typer.Context,
    file: FileArg,
    file_format: FileFormatOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Print the plan; send nothing.")] = False,
    prune: PruneOpt = False,
    subscribe: Annotated[bool, typer.Option("--subscribe", help="Ask each newly added contact for a presence subscription.")] = False,
    rate: Annotated[str, typer.Option("--rate", metavar="N/s", help="Pace of --subscribe requests.")] = "10/s",
    groups_only: GroupsOnlyOpt = False,
    names_only: NamesOnlyOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --prune removes contacts (required when standard input is not a terminal).")] = False,
    max_remove: Annotated[Optional[int], typer.Option("--max-remove", metavar="N", min=0, help="Refuse (exit 2, nothing sent) a plan that would remove more than N contacts.", show_default=False)] = None,
    backup_dir: Annotated[Optional[str], typer.Option("--backup-dir", metavar="DIR", help="Write the --prune backup into DIR [default: the directory of FILE; the current directory for -].", show_default=False)] = None,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help="Allow --prune with a file that has no contacts (it removes every contact); else exit 2.")] = False,
    window: Annotated[int, typer.Option("--window", metavar="N", min=1, max=256, help="Roster sets in flight at once.")] = 32,
    user: UserOpt = None,
    output: OutputOpt = None,
) -> None:
    """Make the roster match FILE: add and update contacts; remove others only with --prune.

    Only what differs is sent (one roster set per contact, --window in flight), so a second
    identical import sends nothing.  A contact's name and groups become exactly those in the
    file (a missing name or groups key means none), unless --groups-only or --names-only.
    JIDs are compared as the servers compare them (nodeprep/nameprep: case, invisible
    characters such as U+200B, fullwidth forms), so another spelling of a contact is that
    contact, never a removal plus an addition.  A file that `roster export` wrote is always
    read back: names and groups need only be text XML can carry.
    When --prune is about to remove contacts, a backup export of the current roster is first
    written to a timestamped file next to FILE (the current directory for '-'; or in
    --backup-dir DIR) and its path printed on stderr; a run that removes nothing writes none.  Guards against a
    truncated or wrong file: --prune with a file that has no contacts exits 2 before logging in
    unless --allow-empty is given, and --max-remove N refuses (exit 2) a plan that would remove
    more than N contacts; a --dry-run reports the same refusals.  The backup is a new file
    (never one that exists) and is on disk before the first removal is sent.  --subscribe sends a
    subscription request to each newly added contact, --rate per second.  On a terminal a
    progress bar is shown on stderr.  Ctrl-C stops sending, prints what was applied, exits 130.

    Prints one row per roster set sent (or, with --dry-run, per planned change; a table shows
    the changes field by field: `field: old -> new`).  JSON/NDJSON keys of a result: action
    (add|update|remove|subscribe), jid, ok (boolean), error (condition or null), message (string
    or null).  Dry-run keys: action, jid, changes (list of {field, old, new}), note.  Exit 7 if
    some sets failed (the others are applied; the failed ones are listed on stderr, as JSON
    "details" with -o json), 6 if the only one failed.

    Fleet mode (several accounts): FILE is read and validated once, before any login, and
    imported into every selected account, each in its own session with its own guards
    (--max-remove), backup file (named after the account's JID) and --subscribe pace.  On a
    terminal --prune first reads every roster and asks once for the combined removals (per
    account counts); an account whose roster changed since then removes nothing and fails
    (exit 1).  Rows gain a leading account column; the progress bar counts accounts.  Exit 7
    when some accounts failed or had failed sets.
    """
    import sys
    from pathlib import Path

    from ...errors import UsageError
    from ...roster.files import STDIN
    from ...roster.workflows import ImportOptions, check_import_guards

    st = state(ctx)
    fmt = st.output_format(output)
    sync = _sync_fields(groups_only, names_only)
    per_second = _parse_rate(rate)
    if prune and not dry_run and not yes and not sys.stdin.isatty():
        raise UsageError("--prune removes contacts: pass --yes to confirm (standard input is not a terminal)")
    if backup_dir is not None and not Path(backup_dir).is_dir():
        raise UsageError(f"--backup-dir {backup_dir}: not a directory")
    source = _read_desired(st, file, file_format, user)
    desired, backup_fmt = source.items, source.format
    options = ImportOptions(prune=prune, subscribe=subscribe, rate=per_second, window=window, max_remove=max_remove,
                            allow_empty=allow_empty, source="<stdin>" if file == STDIN else file, **sync)
    check_import_guards(desired, options)  # a truncated file must not empty the roster: before login
    _import(st, fmt, file, desired, options, dry_run=dry_run, yes=yes, backup_dir=_backup_dir(file, backup_dir),
            backup_fmt=backup_fmt)


def _backup_dir(file: str, backup_dir: str | None):
    """Where --prune backups go: --backup-dir, else FILE's directory (the current one for -)."""
    from pathlib import Path

    from ...roster.files import STDIN

    return Path(backup_dir) if backup_dir is not None else Path(".") if file == STDIN else Path(file).parent


def _confirm_removals(st, file: str, desired, options) -> dict:
    """Several accounts with --prune: read every plan, ask once for the combined removals."""
    from ...roster.workflows import import_roster
    from ..run import confirm_combined

    async def removals_of(sub):
        async with session(sub) as s:
            report = await import_roster(s, desired, options, dry_run=True)
        return [c.jid for c in report.plan.changes if c.action == "remove"]

    async def ask(planned):
        from ..prompt import confirm

        total = sum(len(jids) for jids in planned.values())
        per = ", ".join(f"{name}: {len(jids)}" for name, jids in planned.items() if jids)
        return await confirm(f"Remove {total} contact(s) not in {file} from "
                             f"{sum(1 for jids in planned.values() if jids)} account(s) ({per})?")

    return confirm_combined(st, removals_of, ask)


def _import(st, fmt: str, file: str, desired, options, *, dry_run: bool, yes: bool, backup_dir, backup_fmt: str):
    """The file imported into each account of the run, each in its own session.

    --prune (no --yes, not a dry run) asks before removing: one account in its session, between
    plan and apply; several accounts after a read pass, once for the combined removals, and each
    then removes only what was confirmed.  The backup follows the confirmation and precedes the
    first removal (xmppctl.roster.workflows.import_roster).
    """
    import asyncio
    import sys

    from ...errors import Interrupted
    from ...fleet.run import AccountOutcome
    from ...roster.items import raise_for_results
    from ...roster.workflows import backup_to, import_roster, removals_confirmed
    from ..roster_edit import PLAN_COLUMNS, RESULT_COLUMNS
    from ..run import run_fleet

    fleet = st.fleet_accounts is not None
    checks = _confirm_removals(st, file, desired, options) if options.prune and not dry_run and not yes and fleet else None

    async def job(sub):
        name = sub.account or ""
        who = f"{name}: " if fleet else ""
        if checks is not None and isinstance(checks.get(name), BaseException):
            raise checks[name]  # its plan could not be read: not logged in again
        write_backup = backup_to(backup_dir, backup_fmt, sub.resolve_account().jid)

        def backup(current):
            path = write_backup(current)
            note(st, f"xmppctl: {who}backup of the current roster ({len(current)} contacts) written to {path}", erase_progress=fleet)
            return path

        async def ask_one(plan) -> bool:
            from ..prompt import confirm as ask_user

            return await ask_user(f"Remove {plan.counts()['remove']} contact(s) not in {file}?")

        confirm = removals_confirmed(checks[name]) if checks is not None else None if yes or fleet else ask_one
        progress = _ImportProgress(quiet=st.quiet or fleet)
        async with session(sub, changes=not dry_run) as s:
            try:
                report = await import_roster(s, desired, options, dry_run=dry_run, progress=progress,
                                             confirm=confirm, backup=backup)
            except (asyncio.CancelledError, Interrupted):
                progress.close()
                if progress.report is not None and progress.report.results is not None:
                    sys.stderr.write(f"xmppctl: {who}" + _interrupted_summary(progress.report).removeprefix("xmppctl: "))
                raise
            finally:
                progress.close()
        rows = import_rows(report, fmt, subscribe=options.subscribe)
        outcome = AccountOutcome(name, rows=rows, notes=[import_summary(report)])
        try:
            raise_for_results(report.results or [], "roster")
        except Exception as exc:  # noqa: BLE001 - this account's failed sets, reported with its rows
            outcome.error = exc
        return outcome

    run_fleet(st, fmt, PLAN_COLUMNS if dry_run else RESULT_COLUMNS, job, empty=None)


def import_rows(report, fmt: str, *, subscribe: bool) -> list[dict]:
    """An import's rows: the dry run's plan rows, or one result row per roster set sent."""
    from ...roster.edits import EditPlan
    from ..roster_edit import plan_rows, result_rows, subscription_rows

    edit = EditPlan(changes=report.plan.changes)
    if report.results is None:
        if subscribe:
            edit.extra_rows = subscription_rows(report.would_subscribe, "would send a subscription request")
        return plan_rows(edit, fmt)
    edit.extra_rows = subscription_rows(report.subscribed, "subscription request sent")
    return result_rows(edit, report.results)


def import_summary(report) -> str:
    """The table's summary line on stderr: the plan's counts and what was sent."""
    results = report.results
    if results is None:
        return _plan_summary(report.plan.counts(), "dry run: nothing was sent")
    ok = sum(1 for r in results if r.ok)
    # after a lost connection the rest are reported as failed without being sent
    unsent = sum(1 for r in results if not r.ok and (r.message or "").startswith("not sent"))
    tail = f"{len(results) - unsent} roster set(s) sent, {ok} applied" + (f", {unsent} not sent" if unsent else "")
    return _plan_summary(report.plan.counts(), tail)


@app.command("diff")
@across_accounts
@_with_file_help
def diff(
    ctx: typer.Context,
    file: FileArg,
    file_format: FileFormatOpt = None,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 10 when the roster differs from FILE, 0 when it matches.")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Also list contacts not in the file as removals (what `import --prune` would do).")] = False,
    groups_only: GroupsOnlyOpt = False,
    names_only: NamesOnlyOpt = False,
    user: UserOpt = None,
    output: OutputOpt = None,
) -> None:
    """Show what `roster import FILE` would change, field by field; send nothing.

    One row per contact to add, update or remove.  JSON/NDJSON keys: action
    (add|update|remove|extra), jid, changes (list of {field, old, new}; a table shows them as
    `field: old -> new`), note (null, or for extra: "kept; --prune would remove").  Contacts
    only in the roster are listed as removals with --prune; without it as action extra (import
    keeps them, so they are not drift).  A XEP-0227 file also gives rows with action
    subscription (the file's subscription/ask differ from the roster's) and pending (a request
    to the file's user that was waiting): information, never sent and not drift (`roster
    migrate` re-establishes subscriptions).  With --exit-code: exit 10 when there is drift, 0
    when there is none.

    Fleet mode (several accounts): FILE is read once and compared with every selected
    account's roster; rows gain a leading account column, a table's summary line is printed
    per account.  --exit-code: 10 when some account drifted and none failed; 7 when some
    failed.
    """
    from ...errors import DriftFound
    from ...fleet.run import AccountOutcome
    from ...roster.items import fetch_roster
    from ..roster_edit import PLAN_COLUMNS
    from ..run import run_fleet

    st = state(ctx)
    fmt = st.output_format(output)
    sync = _sync_fields(groups_only, names_only)
    source = _read_desired(st, file, file_format, user)
    desired = source.items

    async def job(sub):
        async with session(sub) as s:
            current = await fetch_roster(s)
        plan, extra = diff_plan(current, desired, prune=prune, sync=sync)
        rows = diff_rows(plan, extra, fmt)
        if source.format == "xep0227":  # subscription states and pending requests: reported, never sent
            from ...migrate import subscription_rows

            rows += subscription_rows(current, source.items, source.pending_in)
        counts = plan.counts()
        drift = exit_code and plan.drift and DriftFound(
            f"drift: {counts['add']} to add, {counts['update']} to update, {counts['remove']} to remove", details=counts)
        return AccountOutcome(sub.account or "", rows=rows, drift=drift, notes=[diff_summary(plan, extra)])

    run_fleet(st, fmt, PLAN_COLUMNS, job, empty=None)


def diff_plan(current, desired, *, prune: bool, sync: dict[str, bool]):
    """(plan, extra): what an import of *desired* would change, and the JIDs only in the roster
    that it keeps (empty with --prune, where they are removals)."""
    from ...roster.items import plan_roster

    wanted = {item.jid for item in desired}
    extra = [] if prune else sorted(item.jid for item in current if item.jid not in wanted)
    return plan_roster(current, desired, prune=prune, **sync), extra


def diff_rows(plan, extra: list[str], fmt: str) -> list[dict]:
    from ...roster.edits import EditPlan
    from ..roster_edit import plan_rows

    rows = plan_rows(EditPlan(changes=plan.changes), fmt)
    return rows + [{"action": "extra", "jid": jid, "changes": [], "note": "kept; --prune would remove"} for jid in extra]


def diff_summary(plan, extra: list[str]) -> str:
    """The table's summary line on stderr."""
    kept = f"; {len(extra)} extra (kept; --prune would remove)" if extra else ""
    return _plan_summary(plan.counts(), "drift" if plan.drift else "no drift") + kept


# ---- migrate: move the contacts and subscriptions to another account (xmppctl/migrate.py) ------


@app.command("migrate")
@one_account("it moves one account (-a OLD) to another (--to NEW)")
def migrate(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", metavar="NAME", help="The configured account (a name in the config file) to move to.", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Read both accounts and print the plan; send nothing.")] = False,
    rate: Annotated[str, typer.Option("--rate", metavar="N/s", help="Pace of the subscription requests NEW sends.")] = "10/s",
    announce: Annotated[bool, typer.Option("--announce", help="OLD publishes the XEP-0283 moved statement (PEP node urn:xmpp:moved:1, open access) naming NEW.")] = False,
    unsubscribe_old: Annotated[bool, typer.Option("--unsubscribe-old", help="Afterwards OLD cancels its subscriptions with every contact NEW has the same ones with (needs --yes).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm --unsubscribe-old.")] = False,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 10 while some contact is still waiting (for an answer or a request), 0 when all are done.")] = False,
    settle: Annotated[float, typer.Option("--settle", metavar="SECONDS", min=0.0, help="Quiet period that ends the collection of pending requests on each account.")] = 0.3,
    output: OutputOpt = None,
) -> None:
    """Move the account's contacts to the account NEW and re-establish the subscriptions.

    Reads both rosters and both accounts' pending requests first (each account sends an
    initial presence the way `sub pending` does, so stored offline messages stay stored), prints
    the plan on stderr, then from NEW: copies every contact (name and groups; NEW's own items
    are merged, never removed; both accounts' own JIDs are skipped); for contacts who saw OLD's
    presence (from/both) pre-approves them (RFC 6121 §3.4) where NEW's server advertises it,
    else approves their request once it has arrived (this run or a later one); for contacts
    whose presence OLD saw (to/both, or OLD's request pending) sends a subscription request
    carrying XEP-0283 <moved><old-jid>OLD</old-jid></moved>, --rate per second.  Requests
    pending on OLD are listed and kept.  Nothing on OLD changes unless --announce or
    --unsubscribe-old (with --yes) is given.  Run it again later: it sends only what is still
    missing (pre-approvals sent are remembered in $XDG_DATA_HOME/xmppctl/migrations/).

    One row per contact.  JSON/NDJSON keys: jid, copied (add|update|unchanged|none|failed),
    old_subscription and new_subscription (none|to|from|both, "+ask" when a request is
    pending), step (preapprove|approve|request joined by "+", or none: what this run sent, or
    would send with --dry-run), status (done: NEW has every direction OLD had; waiting: for the
    contact's answer or request; failed), error (condition or null), note.  Exit 7 when some
    steps failed; with --exit-code 10 while some contact is waiting.
    """
    from ...errors import UsageError

    st = state(ctx)
    fmt = st.output_format(output)
    per_second = _parse_rate(rate)
    if unsubscribe_old and not yes and not dry_run:
        raise UsageError("--unsubscribe-old cancels OLD's subscriptions: pass --yes to confirm")
    old_account = st.resolve_account()
    new_st = _target_state(st, to)
    new_account = new_st.resolve_account()
    if new_account.jid == old_account.jid:
        raise UsageError(f"--to {to}: that is the same account ({new_account.jid})")
    outcome = run(lambda _stop: _migrate(st, new_st, dry_run=dry_run, rate=per_second, announce_move=announce,
                                         unsubscribe_old=unsubscribe_old, settle=settle))
    _migrate_finish(st, fmt, outcome, exit_code=exit_code)


def _target_state(st: State, name: str) -> State:
    """NEW's state: its account from the config file alone (none of OLD's command-line or
    XMPPCTL_* overrides apply to it), and none of the passwords given for OLD (--password-stdin,
    XMPPCTL_PASSWORD): NEW's password comes from XMPPCTL_PASSWORD_<NEW>, its password_command,
    its stored password or the keyring."""
    from dataclasses import replace

    from ...config import resolve_account
    from ...errors import UsageError

    config = st.config()
    if name not in config.accounts:
        known = ", ".join(sorted(config.accounts)) or "none"
        raise UsageError(f"--to {name}: no such account in {config.path} (accounts: {known})")
    account = resolve_account(config, account=name, timeout=st.timeout, env={})
    # for_account: one of several accounts of this run, so XMPPCTL_PASSWORD is not read for it
    return replace(st.for_account(name), jid=None, server=None, port=None, tls=None, ca_file=None, insecure=False,
                   allow_plaintext=False, password_stdin=False, _account=account)


async def _both(first, second):
    """Run two coroutines together; the first failure cancels the other and is raised as is."""
    import asyncio

    try:
        async with asyncio.TaskGroup() as group:
            a, b = group.create_task(first), group.create_task(second)
    except BaseExceptionGroup as eg:
        raise eg.exceptions[0] from None
    return a.result(), b.result()


async def _migrate(st: State, new_st: State, *, dry_run: bool, rate: float, announce_move: bool,
                   unsubscribe_old: bool, settle: float):
    from ... import migrate as mig
    from ...errors import ServerRefused
    from ...subscriptions import PREAPPROVAL_FEATURE, PresenceWatcher, collect_pending, send_and_report

    old_watch, new_watch = PresenceWatcher(), PresenceWatcher()
    async with AsyncExitStack() as stack:

        async def login_and_read(sub: State, watch: PresenceWatcher):
            # both accounts change (the new one's roster, the old one's subscriptions): both locked
            s = await stack.enter_async_context(session(sub, stanza_hook=watch, subscriptions_expected=True,
                                                        changes=not dry_run))
            pending, roster = await collect_pending(s, watch, settle=settle)
            return s, pending, roster

        # both accounts at once: the logins and the quiet periods overlap
        (old, old_pending, old_roster), (new, new_pending, new_roster) = await _both(
            login_and_read(st, old_watch), login_and_read(new_st, new_watch))
        state_file = mig.state_path(old.bare_jid, new.bare_jid)
        preapproved = mig.load_preapproved(state_file)
        plan = mig.plan_migration(old_roster, new_roster, old_jid=old.bare_jid, new_jid=new.bare_jid,
                                  new_pending_in=new_pending, old_pending_in=old_pending,
                                  preapproval=new.has_feature(*PREAPPROVAL_FEATURE), preapproved=preapproved)
        note(st, _plan_line(plan, dry_run))
        if dry_run:
            rows = mig.report(plan, {i.jid: i for i in new_roster}, preapproved=preapproved)
            return mig.MigrationOutcome(plan, rows)
        outcome = await mig.carry_out(new, new_watch, plan, rate=rate, preapproved=preapproved)
        if outcome.preapproved != preapproved:
            mig.save_preapproved(state_file, old.bare_jid, new.bare_jid, outcome.preapproved)
        if unsubscribe_old:
            cancels = mig.unsubscribe_old_plan(outcome.rows, old_roster)
            if cancels:
                results = await send_and_report(old, old_watch, cancels)
                outcome.sent += sum(len(r.sent) for r in results)
                note(st, f"xmppctl: OLD cancelled its subscriptions with {len(cancels)} contact(s)")
        if announce_move:
            try:
                await mig.announce(old, new_st.resolve_account().jid)
                outcome.sent += 1
                note(st, f"xmppctl: OLD published the XEP-0283 moved statement ({mig.MOVED_NS})")
            except ServerRefused as exc:
                outcome.announce_error = exc
    return outcome


def _plan_line(plan, dry_run: bool) -> str:
    c = plan.counts()
    line = (f"xmppctl: plan {plan.old_jid} -> {plan.new_jid}: {len(plan.contacts)} contact(s); "
            f"{c['copy']} roster item(s) to copy, {c['preapprove']} pre-approval(s), {c['approve']} approval(s), "
            f"{c['request']} subscription request(s)")
    if not plan.preapproval:
        line += "; NEW's server does not advertise pre-approval: contacts who saw OLD are approved when they ask"
    if c["pending_on_old"]:
        line += f"; {c['pending_on_old']} request(s) pending on OLD (kept; they must ask NEW)"
    return line + ("; dry run: nothing is sent" if dry_run else "")


def _migrate_finish(st: State, fmt: str, outcome, *, exit_code: bool) -> None:
    from ...errors import DriftFound, PartialFailure, ServerRefused
    from ...migrate import MIGRATE_COLUMNS

    rows = [r.to_dict() for r in outcome.rows]
    render(st, rows, MIGRATE_COLUMNS, fmt, empty="OLD has no contacts to move")
    counts = {s: sum(1 for r in outcome.rows if r.status == s) for s in ("done", "waiting", "failed")}
    if fmt == "table":
        note(st, f"xmppctl: {counts['done']} done, {counts['waiting']} waiting, {counts['failed']} failed; "
                 f"{outcome.sent} stanza(s) sent")
    failed = [r for r in outcome.rows if r.status == "failed"]
    announce_error = outcome.announce_error
    if failed or announce_error is not None:
        parts = [f"{r.jid} ({r.error})" for r in failed[:5]]
        if announce_error is not None:
            parts.append(f"--announce: {announce_error.message}")
        details = [r.to_dict() for r in failed]
        if not rows and announce_error is not None:
            raise ServerRefused(announce_error.message, condition=announce_error.condition)
        raise PartialFailure(f"{len(failed) + (announce_error is not None)} step(s) failed: " + ", ".join(parts),
                             details=details)
    if exit_code and counts["waiting"]:
        raise DriftFound(f"{counts['waiting']} contact(s) still waiting", details=counts)
