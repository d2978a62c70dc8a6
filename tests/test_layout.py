"""The package layout keeps its shape: no import circle among the app's
modules, and no storage or service module grows past a readable size.

Imports are read from the source (nothing is imported): those a module runs
when it loads, at its top level (also inside a top-level ``try`` or ``with``);
imports inside functions and under ``if TYPE_CHECKING:`` do not count. An
import names the module it loads (``from chat_app.service import errors``
names ``chat_app.service.errors``), not the packages above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "chat_app"
MAX_LINES = 520
SIZED = ("chat_app/storage", "chat_app/service")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def load_time_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not is_type_checking(node.test):
                found += load_time_imports(node.body)
            found += load_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for part in (node.body, node.orelse, node.finalbody):
                found += load_time_imports(part)
            for handler in node.handlers:
                found += load_time_imports(handler.body)
        elif isinstance(node, ast.With):
            found += load_time_imports(node.body)
    return found


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in load_time_imports(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        out |= {t for t in targets if t in known and t != name}
    return out


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imported_modules(name, path, known) for name, path in found.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import each other, round (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_no_import_circle_among_the_apps_modules() -> None:
    graph = import_graph()
    assert "chat_app.service.facade" in graph and "chat_app.storage.backend" in graph
    assert circles(graph) == []


def test_the_circle_check_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_type_checking_and_function_imports_do_not_count() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import chat_app.config\n"
        "if TYPE_CHECKING:\n"
        "    import chat_app.cli\n"
        "def f():\n"
        "    import chat_app.ops\n"
    )
    names = [
        alias.name
        for node in load_time_imports(ast.parse(source).body)
        for alias in node.names
        if isinstance(node, ast.Import)
    ]
    assert names == ["chat_app.config"]


def test_storage_and_service_modules_stay_readable() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in sorted(PACKAGE.rglob("*.py"))
        if str(path.relative_to(ROOT)).startswith(SIZED)
        and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}


def test_the_backends_meet_only_through_the_storage_package() -> None:
    """Neither backend imports the other: a new backend is a folder of its own."""
    graph = import_graph()
    backends = ("chat_app.storage.sqlite", "chat_app.storage.postgres")
    crossing = {
        (name, target)
        for name, targets in graph.items()
        for target in targets
        for own in backends
        for other in backends
        if own != other and name.startswith(own) and target.startswith(other)
    }
    assert crossing == set()
