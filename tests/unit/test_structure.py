"""The layering the code is held to, checked on the source.

Layers, lowest first; a module imports only from its own layer or a lower one (every import
counts, inside functions too; ``if TYPE_CHECKING:`` blocks aside), and no modules import each
other in a circle.  The wire layer (xmppctl/xmpp/) is the only user of slixmpp.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "xmppctl"

#: (layer name, module name prefixes), lowest first
LAYERS = (
    ("base", ("xmppctl", "xmppctl.errors", "xmppctl.jid", "xmppctl.text", "xmppctl.fsutil", "xmppctl.locks", "xmppctl.config", "xmppctl.formats",
              "xmppctl.interrupts")),
    ("wire", ("xmppctl.xmpp",)),
    ("roster", ("xmppctl.roster",)),
    ("features", ("xmppctl.subscriptions", "xmppctl.blocking", "xmppctl.presence", "xmppctl.explain",
                  "xmppctl.login_report", "xmppctl.checks", "xmppctl.migrate")),
    ("fleet", ("xmppctl.fleet",)),
    ("output", ("xmppctl.output", "xmppctl.metrics")),
    ("cli", ("xmppctl.cli", "xmppctl.launch", "xmppctl.__main__")),
)


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = (p, ast.parse(p.read_text(encoding="utf-8")))
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path, tree: ast.Module, known: set[str]) -> set[str]:
    """The xmppctl modules *name* imports (resolved to the longest known module name)."""
    found: set[str] = set()

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    walk(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(parts[: len(parts) - (child.level - 1)] + ([child.module] if child.module else []))
                else:
                    base = child.module or ""
                for a in child.names:
                    found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
            walk(child)

    walk(tree)
    resolved = set()
    for target in found:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def _layer(name: str) -> int:
    best, layer = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), index
    return layer


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, tree, known) for name, (path, tree) in modules.items()}


def test_every_module_belongs_to_a_layer():
    assert [name for name in _graph() if _layer(name) < 0] == []


def test_imports_point_only_down_the_layers():
    graph = _graph()
    upward = [f"{name} ({LAYERS[_layer(name)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
              for name, targets in graph.items() for target in sorted(targets)
              if target != "xmppctl" and _layer(target) > _layer(name)]
    assert upward == []


def test_no_modules_import_each_other_in_a_circle():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w == "xmppctl":
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_layer_test_sees_an_upward_import(tmp_path):
    """The checker itself: a base module importing the CLI is reported."""
    tree = ast.parse("def f():\n    from .cli import main\n")
    assert _imports("xmppctl.config", PACKAGE / "config.py", tree, {"xmppctl.cli", "xmppctl.config"}) == {"xmppctl.cli"}
    assert _layer("xmppctl.cli") > _layer("xmppctl.config")


def test_only_the_wire_layer_imports_slixmpp():
    users = set()
    for name, (p, tree) in _modules().items():
        for n in ast.walk(tree):
            names = ([a.name for a in n.names] if isinstance(n, ast.Import)
                     else [n.module or ""] if isinstance(n, ast.ImportFrom) and n.level == 0 else [])
            if any(m == "slixmpp" or m.startswith("slixmpp.") for m in names):
                users.add(name)
    assert users and all(name.startswith("xmppctl.xmpp.") for name in users), users


def test_every_relative_import_names_a_module_that_exists():
    """A module moved to another folder keeps no stale ``from ..x import`` (they fail only when run)."""
    import importlib.util

    stale = []
    for name, (path, tree) in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                target = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
                if importlib.util.find_spec(target) is None:
                    stale.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {target}")
    assert stale == []


def test_no_private_name_is_imported_from_another_module():
    """A leading underscore means "this module's own": another module that needs it gets a public name."""
    private = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {alias.name}"
               for name, (path, tree) in _modules().items() for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("xmppctl"))
               for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert private == []
