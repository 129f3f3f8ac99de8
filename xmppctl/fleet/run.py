"""Per-account jobs, one account or many, concurrently in one process; the outcomes.

Nothing here opens a session or prints: the caller's jobs do.  Besides the pure selection and
row helpers: :func:`run_bounded` (jobs at most N at once, a failure stays its account's),
:func:`confirm_combined` (a read pass, one question, what each may remove) and
:func:`hold_together` (sessions held open together).  The exit code of a run comes from its
outcomes by the one rule (:func:`fleet_exit_code`, xmppctl/errors.py).  How the CLI wires them:

1. Selection, before anything else (exit 2, nothing sent, on a bad pattern)::

       names = select_accounts(list(config.accounts), patterns=a_options, all_accounts=all_flag)
       fleet = fleet_mode(list(config.accounts), a_options, all_flag)

   ``fleet`` decides the output shape from the command line alone (not from how many
   accounts a glob happens to match today), so a script's parser never changes under it:
   in fleet mode every row gains a leading ``account`` key/column.

2. Resolve every selected account (``config.resolve_account``) and validate the command's
   input once, still before the first stanza.

3. Run: ``outcomes = await run_bounded({name: lambda name=name: job(name) ...},
   parallel=N, progress=bar)`` where ``job(name)`` opens that account's session with its own
   deadlines and returns its rows (a list of dicts) or a full :class:`AccountOutcome`.
   Outcomes come back in selection (config) order, whatever order they finished in.

4. Render: for each outcome ``prefix_rows(o.account, o.rows)``; a failed account adds
   ``error_row(o.account, o.error)`` to the rows in json/ndjson, or ``error_line(...)`` on
   stderr in table/csv (``prefix_columns`` gives the table/CSV header).  Exit with
   ``fleet_exit_code(outcomes)``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import EXIT_CODES, ExitCode, Interrupted, UsageError, XmppctlError, combined_exit_code

#: default of ``--parallel``: sessions open at once
DEFAULT_PARALLEL = 16
#: the key (and first column) every row gains in fleet mode
ACCOUNT_KEY = "account"
#: keys of an error row in JSON/NDJSON (plus ``details``/``condition`` where the error has some)
ERROR_COLUMNS = (ACCOUNT_KEY, "error", "message", "exit")

_GLOB_CHARS = frozenset("*?[")


# ---- selection ------------------------------------------------------------------------------


def is_glob(pattern: str) -> bool:
    """True when *pattern* holds a shell-glob character (``*``, ``?``, ``[``)."""
    return any(c in _GLOB_CHARS for c in pattern)


def select_accounts(config_account_names: Iterable[str], patterns: Sequence[str], all_accounts: bool) -> list[str]:
    """The accounts that ``-a PATTERN`` (repeatable) or ``--all-accounts`` select.

    Each pattern is a case-sensitive shell glob (``fnmatch``: ``*``, ``?``, ``[abc]``,
    ``[!abc]``) over the config's account names.  A pattern equal to a configured name selects
    exactly that account, even when the name holds glob characters: with accounts ``bot[1]``
    and ``bot1``, ``-a 'bot[1]'`` selects ``bot[1]`` only; to use it as a glob, write one
    that is not also a name (e.g. ``-a 'bot[1]*'``).  Every pattern must select at least one
    account, else UsageError naming it.  The result is in config order, without duplicates.
    ``--all-accounts`` selects every account and cannot be combined with ``-a``; with neither,
    the result is empty (the CLI then resolves its one default account as before).
    """
    names = list(dict.fromkeys(config_account_names))
    if all_accounts:
        if patterns:
            raise UsageError("--all-accounts and -a/--account cannot be combined")
        if not names:
            raise UsageError("--all-accounts: no accounts in the config file")
        return names
    chosen: set[str] = set()
    unmatched: list[str] = []
    for pattern in patterns:
        if not pattern or not pattern.strip():
            raise UsageError("-a/--account: empty account name or pattern")
        if pattern in names:
            hits = [pattern]
        else:
            hits = [n for n in names if is_glob(pattern) and fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            unmatched.append(pattern)
        chosen.update(hits)
    if unmatched:
        known = ", ".join(names) or "none configured"
        shown = ", ".join(repr(p) for p in unmatched)
        raise UsageError(f"-a/--account: {shown} matches no account in the config (accounts: {known})")
    return [name for name in names if name in chosen]


def fleet_mode(config_account_names: Iterable[str], patterns: Sequence[str], all_accounts: bool) -> bool:
    """True when the command line asks for many accounts: ``--all-accounts``, ``-a`` given
    more than once, or a glob that is not itself a configured name (even when it matches one)."""
    if all_accounts or len(patterns) > 1:
        return True
    names = set(config_account_names)
    return any(is_glob(p) and p not in names for p in patterns)


def validate_parallel(parallel: int) -> int:
    """``--parallel N``: at least 1 (UsageError otherwise)."""
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise UsageError(f"--parallel: expected a whole number of sessions >= 1, got {parallel!r}")
    return parallel


# ---- per-account files ---------------------------------------------------------------------


#: what ``roster export --file`` must hold in fleet mode, replaced by each account's name
ACCOUNT_PLACEHOLDER = "{account}"


def export_paths(template: str | None, accounts: Sequence[str]) -> dict[str, str]:
    """Each account's export file: *template* with ``{account}`` replaced by the account's name.

    UsageError (before any login) when *template* is missing or lacks ``{account}`` (every
    account would overwrite one file), or when two accounts name the same file (compared as
    absolute, normalised paths: ``a/../b`` is ``b``).
    """
    import os

    if not template or template == "-" or ACCOUNT_PLACEHOLDER not in template:
        raise UsageError(f"roster export across many accounts writes one file per account: give --file with "
                         f"{ACCOUNT_PLACEHOLDER} in it (e.g. --file 'rosters/{ACCOUNT_PLACEHOLDER}.toml')")
    paths = {name: template.replace(ACCOUNT_PLACEHOLDER, name) for name in accounts}
    seen: dict[str, str] = {}
    for name, path in paths.items():
        key = os.path.normcase(os.path.abspath(path))
        if key in seen:
            raise UsageError(f"--file {template}: accounts {seen[key]!r} and {name!r} would both write {path}")
        seen[key] = name
    return paths


# ---- outcomes and exit codes ----------------------------------------------------------------


@dataclass
class AccountOutcome:
    """What one account's run produced: its rows and, if it failed, the error that ended it.

    Rows are kept even on failure (e.g. an account whose bulk edit partly failed).  ``drift``
    marks a run that succeeded and found drift (``diff``/``team sync --exit-code``): not a failure.
    """

    account: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None
    #: found drift: True, or (one account) the DriftFound error to report
    drift: bool | BaseException = False
    #: summary lines for a table's reader (stderr, not with --quiet), e.g. a dry run's counts
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def exit_code(self) -> int:
        """This account's exit code alone: 0, 10 (drift), the error's code, or 1 for a bug."""
        if self.error is None:
            return int(ExitCode.DRIFT) if self.drift else int(ExitCode.OK)
        return int(exit_code_of(self.error))


def exit_code_of(exc: BaseException) -> ExitCode:
    """The documented exit code for *exc*: its own for an XmppctlError, else 1 (failure)."""
    return exc.exit_code if isinstance(exc, XmppctlError) else ExitCode.FAILURE


def fleet_exit_code(outcomes: Iterable[AccountOutcome]) -> int:
    """One exit code for the whole run, by the one rule (:func:`xmppctl.errors.combined_exit_code`):
    0 (10 with drift) when every account succeeded; 7 when some failed and something was done;
    the common code when all failed alike (all 3 -> 3); else 1.  Each account's own code is in
    its error row."""
    return combined_exit_code(o.exit_code for o in outcomes)


# ---- rows -----------------------------------------------------------------------------------


def prefix_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """Table/CSV columns in fleet mode: ``account`` first, then the command's own."""
    return (ACCOUNT_KEY, *columns)


def prefix_rows(account: str, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """*rows* with a leading ``account`` key (first in JSON objects too)."""
    out = []
    for row in rows:
        if ACCOUNT_KEY in row:  # a command row must not carry the key fleet mode adds
            raise ValueError(f"row already has an {ACCOUNT_KEY!r} key: {row!r}")
        out.append({ACCOUNT_KEY: account, **row})
    return out


def error_row(account: str, exc: BaseException) -> dict[str, Any]:
    """``{"account", "error": NAME, "message", "exit"}`` (plus details/condition if any)."""
    if isinstance(exc, XmppctlError):
        return {ACCOUNT_KEY: account, **exc.to_json()}
    code = exit_code_of(exc)
    return {ACCOUNT_KEY: account, "error": EXIT_CODES[code][0],
            "message": str(exc) or type(exc).__name__, "exit": int(code)}


def error_line(account: str, exc: BaseException) -> str:
    """The stderr line for a failed account in table/csv output (no trailing newline); the
    message may quote the server, so it is escaped as in tables."""
    from ..text import safe_text

    row = error_row(account, exc)
    return f"xmppctl: {safe_text(account)}: {safe_text(row['message'])} (exit {row['exit']}: {row['error']})"


# ---- running --------------------------------------------------------------------------------

JobFactory = Callable[[], Awaitable[Any]]


async def _run_one(account: str, factory: JobFactory) -> AccountOutcome:
    """One account's job; any ordinary exception becomes its outcome, never the others' problem."""
    try:
        result = await factory()
    except Interrupted:  # the user stopped the whole run, not this account
        raise
    except Exception as exc:  # noqa: BLE001 - reported per account (a bug shows as exit 1)
        return AccountOutcome(account, error=exc)
    if isinstance(result, AccountOutcome):
        if result.account != account:
            raise ValueError(f"job for {account!r} returned the outcome of {result.account!r}")
        return result
    return AccountOutcome(account, rows=list(result or ()))


async def run_bounded(
    factories: Mapping[str, JobFactory],
    parallel: int = DEFAULT_PARALLEL,
    progress: Callable[[int, int], None] | None = None,
) -> list[AccountOutcome]:
    """Run one job per account, at most *parallel* at once; outcomes in *factories*' order.

    Each factory is called only when a slot is free (so at most *parallel* sessions exist at
    any time) and returns a coroutine giving the account's rows or an AccountOutcome.  An
    exception in one job becomes that account's outcome and never cancels the others;
    CancelledError, KeyboardInterrupt, SystemExit and Interrupted propagate, after the
    running jobs are cancelled and have finished (their sessions close).
    *progress(done, total)* is called as each job finishes.
    """
    import asyncio  # here, not at module level: `xmppctl --help` imports this module

    validate_parallel(parallel)
    jobs = list(factories.items())
    total = len(jobs)
    outcomes: dict[str, AccountOutcome] = {}
    queue = iter(jobs)

    # *parallel* workers pulling from one iterator: the bound without a waiting task per account.
    async def worker() -> None:
        for account, factory in queue:
            outcomes[account] = await _run_one(account, factory)
            if progress is not None:
                progress(len(outcomes), total)

    tasks = [asyncio.ensure_future(worker()) for _ in range(min(parallel, total))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return [outcomes[account] for account, _ in jobs]


# ---- orchestration: one question for many accounts, sessions held together ---------------------


async def confirm_combined(read: Mapping[str, JobFactory], ask: Callable[[dict[str, list[Any]]], Awaitable[bool]],
                           parallel: int = DEFAULT_PARALLEL,
                           progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Several accounts, one question: a read pass, then one confirmation of the combined plan.

    *read* gives each account's planned removals (its factory sends nothing); *ask* gets them
    all (per account) and answers.  Declining raises "aborted" (exit 1, nothing sent).  Returns
    per account the confirmed removals (a set of JIDs, for
    :func:`xmppctl.roster.workflows.removals_confirmed` in the apply pass, which removes nothing
    else) or the error that kept its plan from being read (that account is not tried again).
    The backup of each roster follows this confirmation and precedes its first removal.
    """
    from ..errors import aborted

    outcomes = await run_bounded(read, parallel, progress)
    planned = {o.account: o.rows for o in outcomes if o.ok}
    if any(planned.values()) and not await ask(planned):
        raise aborted()
    return {o.account: o.error if o.error is not None else {getattr(c, "jid", c) for c in o.rows} for o in outcomes}


HeldJob = Callable[[Callable[[], Awaitable[None]]], Awaitable[Any]]


async def hold_together(jobs: Mapping[str, HeldJob], *, opened: Callable[[dict[str, BaseException]], None],
                        failed_late: Callable[[str, BaseException], None]) -> list[AccountOutcome]:
    """Run every account's *job(arrive)* at once, their sessions held open together.

    For sessions that stay up until the time passes or a stop event (``presence set --hold``,
    ``presence watch``): every account runs at the same time.  A job awaits ``arrive()`` once
    its session is up: that returns when every account is up or has failed, after
    *opened(failed_so_far)* was called once (the caller prints its header or its document).
    A job that fails after that is passed to *failed_late*; each outcome is as in
    :func:`run_bounded`.
    """
    import asyncio

    names = list(jobs)
    waiting: set[str] = set(names)
    failed: dict[str, BaseException] = {}
    gate = asyncio.Event()

    def passed(name: str, exc: BaseException | None = None) -> None:
        if name not in waiting:
            return
        waiting.discard(name)
        if exc is not None:
            failed[name] = exc
        if not waiting:
            opened(failed)
            gate.set()

    async def one(name: str, job: HeldJob) -> Any:
        async def arrive() -> None:
            passed(name)
            await gate.wait()

        try:
            result = await job(arrive)
        except Interrupted:
            raise
        except Exception as exc:
            if name in waiting:
                passed(name, exc)
            else:
                failed_late(name, exc)
            raise
        passed(name)
        return result

    return await run_bounded({n: (lambda n=n, j=j: one(n, j)) for n, j in jobs.items()}, len(names) or 1)
