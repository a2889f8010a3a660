"""Every module of Unisson imports with only what its installation brings, so that a dependency put in the wrong
extra fails here rather than on a user's machine: ``pip install .`` (the production image) imports the hub and
the bot, ``pip install .[demo]`` (what ``./run start`` installs) also the demo and the sandbox. Neither
environment may hold a package that only the extras above it bring (a test package would hide a misplaced
import); the wheel builds without a warning.

Each environment is built once per pyproject.toml in ``.ci-cache/packaging/`` (about a minute each); Unisson
itself is reinstalled there at every run, from a wheel of the current tree (seconds).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".ci-cache" / "packaging"
#: What the wheel is built from.
SOURCES = ("pyproject.toml", "README.md", "hub", "bot", "demo", "sandbox")
#: Written once an environment's dependencies are all installed.
READY = ".ready"
#: Imports every module of the packages named on the command line; prints the failures and what is installed.
IMPORT_ALL = """
import importlib, importlib.metadata, json, pkgutil, sys

failed = {}

def load(name):
    try:
        return importlib.import_module(name)
    except Exception as error:
        failed[name] = f"{type(error).__name__}: {error}"

for top in sys.argv[1:]:
    if package := load(top):
        for module in pkgutil.walk_packages(package.__path__, top + ".", onerror=lambda _: None):
            load(module.name)
installed = sorted({d.metadata["Name"] for d in importlib.metadata.distributions()})
print(json.dumps({"failed": failed, "installed": installed}))
"""


def requirements(extra: str | None) -> set[str]:
    """The distributions an extra names (None: the runtime dependencies), Unisson's own extras left out."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    listed = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return {canonicalize_name(Requirement(r).name) for r in listed} - {"unisson"}


def clean_env() -> dict[str, str]:
    """This machine's environment without Unisson's settings nor the project's virtual environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNISSON_")}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    return env


def run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the current tree, built from a copy of it (a build writes into its source folder)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(path, source / name)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", folder / "dist", source], folder)
    output = built.stdout + built.stderr
    assert "Warning" not in output and "deprecated" not in output.lower(), output
    [found] = (folder / "dist").glob("unisson-*.whl")
    return found


def environment(name: str, wheel: Path) -> Path:
    """The virtual environment ``.ci-cache/packaging/NAME-DIGEST`` holding the wheel installed as
    ``unisson[NAME]`` ("runtime": no extra), rebuilt when pyproject.toml changes; Unisson itself is reinstalled
    from ``wheel``. Callers hold the environment's lock."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    venv = CACHE / f"{name}-{digest}"
    python = venv / "bin" / "python"
    if not (venv / READY).exists():
        for old in CACHE.glob(f"{name}-*"):
            shutil.rmtree(old)
        run([sys.executable, "-m", "venv", venv], CACHE)
        target = str(wheel) if name == "runtime" else f"{wheel}[{name}]"
        run([python, "-m", "pip", "install", "-q", target], CACHE)
        (venv / READY).touch()
    run([python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", wheel], CACHE)
    return python


@pytest.mark.parametrize(
    ("name", "packages", "above"),
    [
        ("runtime", ["hub", "bot"], ["demo", "test"]),
        ("demo", ["hub", "bot", "demo", "sandbox"], ["test"]),
    ],
)
def test_every_module_imports_with_only_what_its_installation_brings(
    name: str, packages: list[str], above: list[str], wheel: Path, tmp_path: Path
) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be building the same environment
        python = environment(name, wheel)
        # From an empty folder: the modules come from the environment, not from the checkout.
        answer = json.loads(run([python, "-c", IMPORT_ALL, *packages], tmp_path).stdout)
    install = "pip install ." if name == "runtime" else f"pip install .[{name}]"
    assert answer["failed"] == {}, f"modules that fail to import after {install}"
    installed = {canonicalize_name(n) for n in answer["installed"]}
    assert "unisson" in installed
    brought = requirements(None) | (set() if name == "runtime" else requirements(name))
    only_above = set().union(*map(requirements, above)) - brought
    assert installed & only_above == set(), "installed, though only a later extra asks for them"


def test_the_wheel_holds_the_templates_and_the_stylesheet_of_the_web_pages(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, pattern in (("hub/web/templates", "*.html"), ("hub/web/static", "*.css")):
        files = {f"{folder}/{path.name}" for path in (ROOT / folder).glob(pattern)}
        assert files and files <= names, f"{folder} missing from the wheel"
