"""Dynamic shell completion: account names, roster groups and JIDs, from local files only.

A TAB press runs ``xmppctl`` with ``_XMPPCTL_COMPLETE`` set; it must answer in well under a
second and never touch the network, so this module reads only the config file and the roster
cache that ``roster list`` leaves behind, imports nothing heavy (no slixmpp, no tabulate) and
swallows every error: a broken config or cache means "no suggestions", never a traceback on
the user's prompt.

Roster cache: ``$XDG_CACHE_HOME/xmppctl/roster/items/<bare jid>.json`` (default ``~/.cache``),
``{"jid": ..., "items": [{"jid": ..., "name": ..., "groups": [...]}, ...]}``, directory 0700
and file 0600 because a roster is personal data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import typer

#: the environment variable of typer's completion protocol for prog_name "xmppctl"
COMPLETE_VAR = "_XMPPCTL_COMPLETE"


def enable_shell_completion() -> None:
    """Register typer's bash/zsh/fish completion protocol (the app is built with add_completion=False).

    add_completion=False keeps ``--install-completion`` (which edits rc files) off the CLI; the
    scripts in completions/ speak the same protocol, so it only has to be registered when a
    shell actually asks.
    """
    from typer.completion import completion_init

    completion_init()


def completion_requested(env: Mapping[str, str] | None = None) -> bool:
    return bool((os.environ if env is None else env).get(COMPLETE_VAR))


# ---- where things are -----------------------------------------------------------------------


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xmppctl" / "roster"


def roster_cache_path(account_jid: str, env: Mapping[str, str] | None = None) -> Path:
    # a bare JID is safe as a file name once '/' (impossible in a bare JID, but be sure) is gone
    return cache_dir(env) / (account_jid.lower().replace("/", "_") + ".json")


def _root_params(ctx: typer.Context | None) -> dict[str, Any]:
    """Global options already typed on the command line (parsed resiliently by the shell request)."""
    if ctx is None:
        return {}
    return dict(ctx.find_root().params or {})


def _config_data(ctx: typer.Context | None, env: Mapping[str, str]) -> dict[str, Any]:
    import tomllib

    from ..config import default_config_path

    path = _root_params(ctx).get("config") or default_config_path(env)
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _accounts(data: Mapping[str, Any]) -> dict[str, Any]:
    accounts = data.get("accounts")
    return accounts if isinstance(accounts, dict) else {}


def _selected_jid(ctx: typer.Context | None, env: Mapping[str, str]) -> str | None:
    """The bare JID the command line would log in as (same precedence as config.resolve_account)."""
    params = _root_params(ctx)
    jid = params.get("jid") or env.get("XMPPCTL_JID")
    name = params.get("account") or env.get("XMPPCTL_ACCOUNT")
    if jid and not name:
        return str(jid).lower()
    data = _config_data(ctx, env)
    accounts = _accounts(data)
    if not name:
        name = data.get("default_account")
        if not name and len(accounts) == 1:
            name = next(iter(accounts))
    table = accounts.get(name) if isinstance(name, str) else None
    if isinstance(table, dict) and isinstance(table.get("jid"), str):
        return table["jid"].lower()
    return str(jid).lower() if jid else None


# ---- the roster cache -----------------------------------------------------------------------


def save_roster_cache(account_jid: str, items: Iterable[Any], env: Mapping[str, str] | None = None) -> None:
    """Remember the roster's JIDs, names and groups for completion; failures are ignored.

    Runs after every ``roster list``, so it is kept cheap: ``json.dumps`` (C encoder; ``json.dump``
    always takes the pure-Python one), and no write at all when the file already says the same.
    """
    from ..fsutil import atomic_write

    path = roster_cache_path(account_jid, env)
    rows = [{"jid": i.jid, "name": i.name, "groups": list(i.groups)} for i in items]
    data = json.dumps({"jid": account_jid, "items": rows}, ensure_ascii=False).encode("utf-8")
    try:
        if _cache_holds(path, data):
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(path, data, binary=True)
    except OSError:
        pass  # a read-only or full home must not fail the command that printed the roster


def _cache_holds(path: Path, data: bytes) -> bool:
    """The cache file exists, is private, and has exactly *data* (size compared first: no read)."""
    try:
        st = path.stat()
        if st.st_size != len(data) or st.st_mode & 0o077:
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _cached_items(ctx: typer.Context | None, env: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    """Items of the selected account's cached roster; of every cached roster if none is selected."""
    jid = _selected_jid(ctx, env)
    if jid:
        paths = [roster_cache_path(jid, env)]
    else:
        try:
            paths = sorted(cache_dir(env).glob("*.json"))
        except OSError:
            paths = []
    for path in paths:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        items = data.get("items") if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict):
                yield item


def _matching(values: Iterable[str], incomplete: str) -> list[str]:
    prefix = incomplete.casefold()
    return sorted({v for v in values if isinstance(v, str) and v.casefold().startswith(prefix)})


# ---- completers (typer's ``autocompletion=``) -----------------------------------------------


def complete_account(ctx: typer.Context, incomplete: str) -> list[str]:
    """Account names from the config file (``--config``/XMPPCTL_CONFIG honoured)."""
    try:
        return _matching(_accounts(_config_data(ctx, os.environ)), incomplete)
    except Exception:  # never a traceback on the prompt
        return []


def complete_group(ctx: typer.Context, incomplete: str) -> list[str]:
    """Group names from the cached roster of the account the command line selects."""
    try:
        groups = (g for item in _cached_items(ctx, os.environ) for g in (item.get("groups") or ()))
        return _matching(groups, incomplete)
    except Exception:
        return []


def complete_jid(ctx: typer.Context, incomplete: str) -> list[str]:
    """Contact JIDs from the cached roster of the account the command line selects."""
    try:
        return _matching((item.get("jid") for item in _cached_items(ctx, os.environ)), incomplete)
    except Exception:
        return []
