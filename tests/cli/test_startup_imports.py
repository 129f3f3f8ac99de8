"""Help and usage errors are answered before anything heavy is imported.

Shell loops and cron pay the start-up of every invocation; a typo must cost no more than
``--help``.  The child runs with ``PYTHONPROFILEIMPORTTIME`` (what ``-X importtime`` does), and
the modules it imported are read from its stderr: behaviour, no timing.
"""

from __future__ import annotations

import pytest

from tests.support.helpers import run_subprocess

#: what only a command that goes to the network, or prints a table, needs
HEAVY = ("slixmpp", "asyncio", "ssl", "tabulate")


def imported_modules(stderr: str) -> set[str]:
    """Module names from the ``import time: self | cumulative | name`` lines."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


def run_traced(*args: str):
    r = run_subprocess(None, *args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    return r, imported_modules(r.stderr)


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.partition(".")[0] in HEAVY)


@pytest.mark.parametrize("args", [("--help",), ("roster", "list", "--help"), ("roster", "import", "--help"),
                                  ("check", "presence", "--help")])
def test_help_imports_nothing_heavy(args):
    r, modules = run_traced(*args)
    assert r.code == 0 and "Usage:" in r.stdout
    assert "xmppctl.cli" in modules  # the trace works
    assert heavy(modules) == []


@pytest.mark.parametrize("args, says", [
    (("--jid", "not a jid", "roster", "list"), "invalid JID 'not a jid'"),
    (("--jid", "not a jid", "roster", "list", "-o", "json"), '"error": "usage"'),
    (("roster", "lst"), "No such command"),
    (("--port", "0", "roster", "list"), "--port"),
])
def test_usage_error_is_answered_before_anything_heavy_is_imported(args, says):
    r, modules = run_traced(*args)
    assert r.code == 2
    assert len(messages(r.stderr)) == 1 and says in r.stderr
    assert heavy(modules) == []


def test_help_does_not_pull_pydantic():
    # typer 0.29 builds a pydantic adapter for every non-flag option, ~120 ms per invocation;
    # pyproject.toml keeps typer below 0.29 for that reason
    import typer

    if tuple(int(p) for p in typer.__version__.split(".")[:2]) >= (0, 29):
        pytest.skip(f"typer {typer.__version__} is outside the range pyproject.toml allows")
    _, modules = run_traced("roster", "list", "--help")
    assert "pydantic" not in modules


def test_check_usage_error_is_unknown_and_answered_before_anything_heavy_is_imported():
    r, modules = run_traced("check", "login", "-w", "not-a-range")
    assert r.code == 3 and r.stdout.startswith("XMPP LOGIN UNKNOWN - -w/--warning 'not-a-range'")
    assert heavy(modules) == []
