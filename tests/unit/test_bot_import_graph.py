"""Imports inside ``bot`` point down: no module of the package imports, even indirectly, a module that imports it.

Every import statement of a file counts — at the top, under ``if TYPE_CHECKING:``, inside a function — since
each one says that the module needs the other. Importing ``a.b.c`` runs the ``__init__.py`` of ``a`` and of
``a.b`` first, so the importer also depends on those packages when their ``__init__.py`` imports anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import bot

ROOT = Path(bot.__file__).parent


def _modules(root: Path) -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its own name, for its ``__init__.py``)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return name in modules and modules[name].name == "__init__.py"


def _imported(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The dotted names ``path`` imports: ``import x.y`` gives ``x.y``; ``from x import y`` gives ``x`` and,
    when ``y`` is a submodule, ``x.y``. Relative imports are resolved against the module's package."""
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in modules)


def _graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the modules of the package it needs, parent packages included when their ``__init__`` imports."""
    modules = _modules(root)
    direct = {name: set(_imported(name, path, modules)) for name, path in modules.items()}
    importing_packages = {name for name in modules if _is_package(name, modules) and direct[name]}
    graph: dict[str, set[str]] = {}
    for name, targets in direct.items():
        needed = set()
        for target in targets:
            parts = target.split(".")
            needed |= {target} & modules.keys()
            needed |= {".".join(parts[:n]) for n in range(1, len(parts))} & importing_packages
        graph[name] = needed - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as the path that closes it (``a → b → a``), or None."""
    done: set[str] = set()
    for start in sorted(graph):
        path: list[str] = []
        stack: list[Iterator[str]] = []
        node: str | None = start
        while True:
            if node is not None:
                if node in path:
                    return [*path[path.index(node) :], node]
                if node not in done:
                    path.append(node)
                    stack.append(iter(sorted(graph.get(node, ()))))
            if not stack:
                break
            node = next(stack[-1], None)
            if node is None:
                stack.pop()
                done.add(path.pop())
    return None


def test_the_graph_sees_the_package() -> None:
    graph = _graph()
    assert "bot.client" in graph and "bot.commands" in graph
    assert "bot.render" in graph["bot.client"]


def test_no_import_cycle_in_bot() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_a_cycle_is_spelled_out() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_relative_imports_and_submodules_are_resolved(tmp_path: Path) -> None:
    root = _package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "top.py": "from pkg.sub import low\n",
            "sub/__init__.py": "",
            "sub/low.py": "def f():\n    from .. import top\n",
        },
    )
    graph = _graph(root)
    assert graph["pkg.top"] == {"pkg.sub", "pkg.sub.low"}
    assert graph["pkg.sub.low"] == {"pkg", "pkg.top"}
    assert _cycle(graph) == ["pkg.sub.low", "pkg.top", "pkg.sub.low"]


def test_a_package_that_imports_its_modules_counts(tmp_path: Path) -> None:
    root = _package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "family/__init__.py": "from pkg.family import one, two\n",
            "family/one.py": "",
            "family/two.py": "if TYPE_CHECKING:\n    from pkg.family.one import X\n",
        },
    )
    assert _cycle(_graph(root)) == ["pkg.family", "pkg.family.two", "pkg.family"]
