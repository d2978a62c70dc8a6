"""The shape of the code: the UI, service and storage modules stay small
enough to read, chat_app's modules import one another one way (no circle),
and the storage backends meet only through the storage package.

Only imports run when a module is loaded count: those at module level (also
inside a module-level ``try`` or ``if``), not those inside a function, and
not those under ``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import chat_app

PACKAGE_DIR = Path(chat_app.__file__).parent
MAX_LINES = 520


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports run when the module loads: not in functions or classes, nor
    under ``if TYPE_CHECKING:`` (its ``else`` runs, and counts)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _type_checking_only(node):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _module_level(block)
            for handler in node.handlers:
                yield from _module_level(handler.body)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body)


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The chat_app modules that loading ``name`` loads first: each one named,
    and the packages above it that ``name`` is not itself inside."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _module_level(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = name.split(".")
            base = base if is_package else base[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        targets.add(source)
        # ``from package import module`` loads that module.
        targets.update(f"{source}.{alias.name}" for alias in node.names)
    loaded: set[str] = set()
    own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            candidate = ".".join(parts[:i])
            if candidate in known and candidate != name and candidate not in own_packages:
                loaded.add(candidate)
    return loaded


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


@pytest.mark.parametrize("area", ["ui", "service", "storage"])
def test_no_module_is_over_the_line_limit(area: str) -> None:
    sizes = {
        str(p.relative_to(PACKAGE_DIR.parent)): len(p.read_text(encoding="utf-8").splitlines())
        for p in sorted((PACKAGE_DIR / area).rglob("*.py"))
    }
    assert sizes, f"no {area} modules found"
    too_long = {path: n for path, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def test_the_backends_meet_only_through_the_storage_package() -> None:
    """No backend imports another: a new backend is a folder of its own."""
    graph = import_graph()
    backends = [
        f"chat_app.storage.{p.name}"
        for p in (PACKAGE_DIR / "storage").iterdir()
        if (p / "__init__.py").exists()
    ]
    assert len(backends) >= 3, backends
    # The memory backend keeps its index in an in-memory SQLite database,
    # with the SQLite backend's own index: the one use allowed.
    allowed = {("chat_app.storage.memory", "chat_app.storage.sqlite")}
    crossing = {
        (name, target)
        for name, targets in graph.items()
        for target in targets
        for own in backends
        for other in backends
        if own != other
        and name.startswith(own + ".")
        and target.startswith(other)
        and (own, other) not in allowed
    }
    assert crossing == set()


def test_chat_app_modules_import_one_another_one_way() -> None:
    graph = import_graph()
    assert "chat_app.ui.areas.base" in graph["chat_app.ui.app"], "the graph was read"
    circle = find_circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_the_circle_finder_sees_circles_and_skips_what_does_not_run(tmp_path: Path) -> None:
    # The checker itself, on a small package: a function-level import and a
    # TYPE_CHECKING one close no circle; a module-level one does.
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from pkg import b\n"
        "if TYPE_CHECKING:\n    from pkg.c import C\n"
    )
    (pkg / "b.py").write_text("def f():\n    from pkg import a\n")
    (pkg / "c.py").write_text("from pkg.a import x\n")
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c"}
    graph = {
        name: imported_modules(name, pkg / f"{name.split('.')[-1]}.py", known)
        for name in ("pkg.a", "pkg.b", "pkg.c")
    }
    graph["pkg"] = set()
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == set()
    assert find_circle(graph) is None
    graph["pkg.b"].add("pkg.c")
    assert find_circle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
