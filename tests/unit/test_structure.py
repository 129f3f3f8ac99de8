"""The layering the code is held to, checked on the source: the session layer is the only
user of slixmpp, and no function is over 80 lines (a long one mixes concerns)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "xmppctl"
MAX_LINES = 80


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))]


def test_no_function_is_over_80_lines():
    long = [f"{p.relative_to(PACKAGE.parent)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
            for p, tree in _modules() for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > MAX_LINES]
    assert long == []


def test_only_the_session_layer_imports_slixmpp():
    users = set()
    for p, tree in _modules():
        for n in ast.walk(tree):
            names = ([a.name for a in n.names] if isinstance(n, ast.Import)
                     else [n.module or ""] if isinstance(n, ast.ImportFrom) and n.level == 0 else [])
            if any(name == "slixmpp" or name.startswith("slixmpp.") for name in names):
                users.add(p.relative_to(PACKAGE.parent).as_posix())
    assert users == {"xmppctl/session.py"}
