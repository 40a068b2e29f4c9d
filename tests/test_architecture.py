"""The import graph of bot/ and classifiers/, read from the source (ast): no cycles, layers kept.

Every import counts, including those inside functions and under TYPE_CHECKING: a lazy import
hides a cycle from the interpreter, not from a reader.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "classifiers")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module (of ours) an imported name lives in: bot.commands.routes, not .ROUTES."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        names: Iterable[str] = ()
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                out.add(target)
    return out


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _unit(module: str) -> str:
    """The node a module belongs to at package level: bot.store.items -> bot.store; bot.cli stays."""
    parts = module.split(".")
    if parts[0] == "classifiers":
        return "classifiers"
    if len(parts) >= 2 and (ROOT / parts[0] / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_the_graph_was_read() -> None:
    assert "bot.commands.routes" in GRAPH and "classifiers.text" in GRAPH
    assert "bot.commands.lookups" in GRAPH["bot.commands.routes"]
    assert "classifiers.text" in GRAPH["bot.feeds.normalize"]


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(GRAPH) == []


def test_no_import_cycle_between_packages() -> None:
    units: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        units.setdefault(_unit(module), set()).update(
            _unit(t) for t in targets if _unit(t) != _unit(module)
        )
    assert _cycles(units) == []


def test_classifiers_never_import_bot() -> None:
    offenders = {m: sorted(t for t in ts if t.startswith("bot")) for m, ts in GRAPH.items()}
    assert {m: ts for m, ts in offenders.items() if m.startswith("classifiers") and ts} == {}


@pytest.mark.parametrize("layer", ["bot.store.rows", "bot.config", "bot.errors", "bot.i18n"])
def test_the_bottom_layers_import_nothing_above_them(layer: str) -> None:
    allowed = {"bot.errors", "bot.store", "bot.store.rows"}
    above = {t for t in GRAPH[layer] if t.startswith("bot") and t not in allowed}
    assert above == set()


def test_sql_only_in_the_store() -> None:
    outside = {}
    for module, path in MODULES.items():
        if module.startswith("bot.store"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                if any(n.startswith(("sqlalchemy", "bot.store.schema")) for n in names):
                    outside[module] = names
    assert outside == {}


def test_one_accent_fold_and_one_html_to_text() -> None:
    """Only classifiers/text.py decomposes accents or walks an HTML tree to get its text."""
    for module, path in MODULES.items():
        if module == "classifiers.text":
            continue
        source = path.read_text(encoding="utf-8")
        assert 'normalize("NFKD"' not in source, module
        assert "LexborHTMLParser" not in source and "HTMLParser(" not in source, module
