"""Which accounts a command line selects, and which commands may run for several of them.

``-a`` repeated or given a glob, or ``--all-accounts``, selects many accounts (the pure rules
are in xmppctl/fleet/run.py).  Each command declares where it is defined whether it runs
across accounts (:func:`across_accounts`) or for one only, and why (:func:`one_account`);
:func:`check_fleet` applies the declaration when the command first reads its state, before
any config or network work of its own: exit 2, nothing sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import State

#: the attribute a command's declaration sets on its function (see :func:`across_accounts`)
_DECLARED = "__xmppctl_accounts__"
#: marks a command that runs for several accounts
ACROSS = "across"

FLEET_HELP = (
    "Fleet mode (-a repeated or a glob, or --all-accounts): the command runs for every selected "
    "account in one process; rows gain a leading 'account' column; a failed account is an error "
    "row (json/ndjson) or a stderr line (table/csv); exit 0 all ok, 7 some failed, the common code "
    "when all failed alike. presence set --hold and presence watch keep every session open "
    "together (needs --parallel >= the number of accounts); roster export needs --file with "
    "{account} in it. A command that runs for one account only says why in its --help and exits 2 "
    "(nothing sent) when several are selected."
)


def across_accounts(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Declare that a command runs for several accounts (its job runs per account, cli/run.py)."""
    setattr(fn, _DECLARED, ACROSS)
    return fn


def one_account(reason: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare that a command runs for one account only, and why: said in its --help, and the
    reason of its exit 2 when several accounts are selected."""
    def declare(fn: Callable[..., Any]) -> Callable[..., Any]:
        import inspect

        setattr(fn, _DECLARED, reason)
        fn.__doc__ = (inspect.cleandoc(fn.__doc__ or "") + f"\n\nOne account only ({reason}): several -a or "
                      "--all-accounts exit 2, nothing sent.")
        return fn

    return declare


def declaration(callback: Any) -> str | None:
    """What a command declared: ACROSS, the reason it runs for one account, or None (nothing)."""
    return getattr(callback, _DECLARED, None)


def check_fleet(st: State, command_path: str, callback: Any = None) -> None:
    """Decide fleet mode for this command line; refuse it for commands that do not support it."""
    from ..errors import UsageError
    from ..fleet.run import fleet_mode, is_glob, select_accounts

    patterns = list(st.patterns)
    if not st.all_accounts and len(patterns) <= 1 and not any(is_glob(p) for p in patterns):
        return  # one account (or none): the single-account path, unchanged
    names = list(st.config().accounts)
    if not fleet_mode(names, patterns, st.all_accounts):
        return
    selected = select_accounts(names, patterns, st.all_accounts)
    path = command_path.split(" ", 1)[1] if " " in command_path else command_path
    declared = declaration(callback)
    if declared != ACROSS:
        reason = declared or "it does not declare that it runs for several accounts"
        raise UsageError(f"{path} does not run across many accounts: {reason}; select one account with -a NAME")
    if st.password_stdin:
        raise UsageError("--password-stdin reads one password: in fleet mode use each account's password source")
    if st.jid:
        raise UsageError("--jid selects one account: do not combine it with several -a or --all-accounts")
    from ..config import check_several_accounts_env

    check_several_accounts_env(f"{len(selected)} account(s) are selected with -a/--all-accounts")
    st.fleet_accounts = selected
