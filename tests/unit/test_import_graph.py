"""The modules of ``hub`` import one another without a cycle, so that imports only point down.

Every import counts, wherever it is written: at the top, under ``if TYPE_CHECKING:``, inside a function. A
lazy import hides a cycle from Python; it does not hide it from a reader, so it does not hide it here either.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import hub

ROOT = Path(hub.__file__).parent


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its name, for its ``__init__.py``)."""
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_names(path: Path, name: str) -> Iterator[str]:
    """The absolute names ``path`` imports, a ``from x import y`` giving ``x.y`` as well as ``x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = name if is_package(path) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = absolute(here, node.module, node.level)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def absolute(here: str, module: str | None, level: int) -> str:
    """The absolute name of ``from <level dots><module> import ...`` written in package ``here``."""
    if level == 0:
        return module or ""
    parts = here.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The module an imported name lands in: the name itself, or the module that defines it."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def parents(name: str) -> Iterator[str]:
    """``a.b.c`` → ``a.b``, ``a``: importing a submodule runs every enclosing package's ``__init__``."""
    while "." in name:
        name = name.rpartition(".")[0]
        yield name


def imports_anything(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.Import | ast.ImportFrom) for node in ast.walk(tree))


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Who imports whom among the modules of the package at ``root``."""
    package = root.name
    known = modules(root)
    active = {name for name, path in known.items() if is_package(path) and imports_anything(path)}
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        running = {name, *parents(name)}  # a module's packages have started their __init__ before it runs
        for imported in imported_names(path, name):
            target = resolve(imported, known) if imported.split(".")[0] == package else None
            if target is None or target == name:
                continue
            edges[name].add(target)
            edges[name].update(p for p in parents(target) if p in active and p not in running)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` as the path that closes it (its first module repeated at the end), or None."""
    done: set[str] = set()
    for start in sorted(edges):
        if start in done:
            continue
        path = [start]
        pending = [iter(sorted(edges[start]))]
        while pending:
            following = next(pending[-1], None)
            if following is None:
                pending.pop()
                done.add(path.pop())
            elif following in path:
                return [*path[path.index(following) :], following]
            elif following not in done:
                path.append(following)
                pending.append(iter(sorted(edges[following])))
    return None


def test_the_hub_package_has_no_import_cycle() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_a_cycle_is_spelled_out() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_imports_are_resolved_against_the_package() -> None:
    assert absolute("hub.text", "fit", 1) == "hub.text.fit"
    assert absolute("hub.text", None, 2) == "hub"
    assert absolute("hub.text", "store", 2) == "hub.store"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root / "pkg"


def test_imports_inside_functions_and_for_type_checking_count(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import high\n",
            "pkg/high.py": "def f() -> None:\n    from . import low\n",
        },
    )
    assert graph(root)["pkg.low"] == {"pkg", "pkg.high"}
    assert find_cycle(graph(root)) == ["pkg.high", "pkg.low", "pkg.high"]


def test_importing_a_submodule_runs_its_packages_init(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/top.py": "from pkg.sub.leaf import x\n",
            "pkg/sub/__init__.py": "from pkg import top\n",
            "pkg/sub/leaf.py": "x = 1\n",
        },
    )
    assert find_cycle(graph(root)) == ["pkg.sub", "pkg.top", "pkg.sub"]
