"""The Dockerfile and the compose example, without a Docker engine.

The Dockerfile is read, not copied: the test checks its structure, then runs its builder stage — ENV, WORKDIR,
COPY (honouring .dockerignore) and the RUN lines as written — in a temporary folder standing for the image's
root, so the install cannot drift from what ``docker build`` does. It then starts the entry point from the
virtual environment built there, with the image's ENV (paths moved into the temporary root, the HTTP endpoint
on loopback and a free port), runs the image's HEALTHCHECK until it passes, and stops the process with SIGTERM.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import yaml

from bot.cli import ROLES, main

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "config" / "compose.example.yaml"
#: The machine's pip cache may be used here; the image keeps none.
HOST_CHOICES = {"PIP_NO_CACHE_DIR"}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for k, args in self.instructions if k == keyword]

    def one(self, keyword: str) -> str:
        [args] = self.all(keyword)
        return args


def expand(text: str, env: dict[str, str]) -> str:
    """Docker's ``$NAME`` and ``${NAME}``, from the values known before the instruction."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)


def instructions(text: str) -> list[tuple[str, str]]:
    """``(KEYWORD, arguments)`` per instruction: comments dropped, continuation lines joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.strip():
            keyword, _, args = pending.strip().partition(" ")
            found.append((keyword.upper(), args.strip()))  # as written: RUN lines go to the shell unchanged
        pending = ""
    return found


def stages(text: str) -> list[Stage]:
    args: dict[str, str] = {}
    parsed: list[Stage] = []
    for keyword, rest in instructions(text):
        if keyword == "ARG" and not parsed:
            name, _, value = rest.partition("=")
            args[name] = value
        elif keyword == "FROM":
            words = expand(rest, args).split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            parsed.append(Stage(words[0], name))
        else:
            parsed[-1].instructions.append((keyword, rest))
    return parsed


def env_pairs(args: str) -> list[tuple[str, str]]:
    pairs = []
    for word in shlex.split(args):
        key, equals, value = word.partition("=")
        assert equals, f"ENV {args!r}: use the KEY=value form"
        pairs.append((key, value))
    return pairs


def ignored(patterns: list[str], relative: str) -> bool:
    for pattern in patterns:
        if fnmatch.fnmatch(relative, pattern) or relative.startswith(pattern.rstrip("/") + "/"):
            return True
        if pattern.startswith("**/"):
            parts = relative.split("/")
            if any(fnmatch.fnmatch("/".join(parts[i:]), pattern[3:]) for i in range(len(parts))):
                return True
    return False


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def copy_from_context(args: str, cwd: Path) -> None:
    *sources, target = shlex.split(args)
    assert not any(s.startswith("--") for s in sources), f"COPY {args}: only plain copies from the context"
    patterns = dockerignore()
    destination = cwd / target
    for source in sources:
        assert not ignored(patterns, source), f"COPY {source}: .dockerignore leaves it out of the context"
        path = ROOT / source
        if path.is_dir():

            def skip(folder: str, names: list[str]) -> set[str]:
                here = Path(folder).relative_to(ROOT)
                return {n for n in names if ignored(patterns, (here / n).as_posix())}

            shutil.copytree(path, destination, ignore=skip, dirs_exist_ok=True)
        elif target.endswith("/"):
            destination.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination / path.name)
        else:
            shutil.copy2(path, destination)


def host_env(path_first: list[Path]) -> dict[str, str]:
    """This machine's environment without Unisson's settings nor the project's virtual environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNISSON_")}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    kept = [p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if not p.startswith(str(ROOT))]
    env["PATH"] = os.pathsep.join([*map(str, path_first), *kept])
    return env


def apply_env(args: str, env: dict[str, str], root: Path) -> None:
    before = dict(env)
    for key, raw in env_pairs(args):
        if key in HOST_CHOICES:
            continue
        value = expand(raw, before)
        env[key] = str(root / value.lstrip("/")) if raw.startswith("/") else value


def interpreter(base: str) -> str:
    """A Python of the image's version (``python:3.11-slim`` → 3.11), as the image's ``python``."""
    match = re.match(r"python:(\d+\.\d+)", base)
    assert match, f"the base image {base} does not name its Python version"
    version = match.group(1)
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return os.path.realpath(sys.executable)
    found = shutil.which(f"python{version}")
    assert found, f"the image uses Python {version}: install it here to run this test"
    return found


def build(stage: Stage, root: Path) -> None:
    """Runs the builder stage in ``root``, which stands for the image's ``/``."""
    shims = root / "host-bin"
    shims.mkdir(parents=True)
    (shims / "python").symlink_to(interpreter(stage.base))
    env, cwd = host_env([shims]), root
    for keyword, args in stage.instructions:
        if keyword == "ENV":
            apply_env(args, env, root)
        elif keyword == "WORKDIR":
            cwd = root / expand(args, env).lstrip("/")
            cwd.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            copy_from_context(args, cwd)
        elif keyword == "RUN":
            shell = ["/bin/sh", "-c", args]
            done = subprocess.run(shell, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
            assert done.returncode == 0, f"RUN {args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        else:
            raise AssertionError(f"the builder stage uses {keyword}: teach this test how to run it")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthcheck(args: str) -> list[str]:
    options, _, command = " ".join(args.split()).partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    parsed = json.loads(command)
    assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed)
    return parsed


def test_dockerfile_structure() -> None:
    builder, final = stages(DOCKERFILE.read_text("utf-8"))
    assert builder.name == "builder" and final.base == builder.base and builder.base.startswith("python:")
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", final.base)
    builder_env = dict(p for args in builder.all("ENV") for p in env_pairs(args))
    final_env = dict(p for args in final.all("ENV") for p in env_pairs(args))
    venv = builder_env["VIRTUAL_ENV"]
    assert final.one("COPY").split() == ["--from=builder", venv, final_env["VIRTUAL_ENV"]]  # the venv alone
    assert final_env["PATH"].startswith("$VIRTUAL_ENV/bin:")

    user = final.one("USER")
    assert user not in ("root", "0") and not user.startswith("0:")
    [setup] = final.all("RUN")
    assert "useradd" in setup and f" {user}" in setup and f"chown {user}" in setup
    keywords = [k for k, _ in final.instructions]
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")

    assert final.one("VOLUME") == "/data" and final_env["UNISSON_DATA_DIR"] == "/data"
    assert final_env["UNISSON_MATRIX_STORE_PATH"].startswith("/data/")
    assert final_env["UNISSON_HTTP_HOST"] == "0.0.0.0"
    assert final.one("EXPOSE") == final_env["UNISSON_HTTP_PORT"] == "8080"
    check = healthcheck(final.one("HEALTHCHECK"))
    assert check[0] == "python" and "/healthz" in " ".join(check)

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
    assert json.loads(final.one("ENTRYPOINT")) == ["unisson"] and "unisson" in scripts
    assert json.loads(final.one("CMD")) == ["run"]


def test_the_builder_installs_unisson_and_the_entry_point_becomes_healthy(tmp_path: Path) -> None:
    builder, final = stages(DOCKERFILE.read_text("utf-8"))
    root = tmp_path / "image"
    build(builder, root)

    env = host_env([])
    for args in final.all("ENV"):
        apply_env(args, env, root)
    port = free_port()
    env.update({"UNISSON_HTTP_HOST": "127.0.0.1", "UNISSON_HTTP_PORT": str(port)})  # loopback only, here
    workdir = root / final.one("WORKDIR").lstrip("/")
    workdir.mkdir(parents=True, exist_ok=True)
    venv_bin = Path(env["VIRTUAL_ENV"]) / "bin"
    entry = json.loads(final.one("ENTRYPOINT"))
    executable = shutil.which(entry[0], path=env["PATH"])
    assert executable is not None and Path(executable).parent == venv_bin
    check = healthcheck(final.one("HEALTHCHECK"))
    assert Path(shutil.which(check[0], path=env["PATH"]) or "").parent == venv_bin

    def healthy() -> bool:
        return subprocess.run(check, env=env, capture_output=True, timeout=10).returncode == 0

    assert not healthy()  # nothing listens yet: the check can fail
    command = [executable, *entry[1:], *json.loads(final.one("CMD")), "--role", "dispatcher"]
    with (tmp_path / "out.txt").open("wb") as out:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not healthy():
                assert process.poll() is None, (tmp_path / "out.txt").read_text("utf-8")
                assert time.monotonic() < deadline, "the HEALTHCHECK did not pass within 60 s"
                time.sleep(0.5)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                ready = json.loads(response.read())  # migrations and catalogs came with the wheel
            assert ready["status"] == "ready" and ready["parts"] == {"dispatcher": True}
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert (workdir / "unisson.db").exists()  # the data folder is the image's /data
    assert "s'est arrêté proprement" in (tmp_path / "out.txt").read_text("utf-8")


def documented_settings() -> set[str]:
    example = (ROOT / "config" / "unisson.example.env").read_text("utf-8")
    return {line.split("=", 1)[0] for line in example.splitlines() if line.startswith("UNISSON_")}


def resolve(arguments: list[str]) -> click.Command:
    """The ``unisson`` command that ``arguments`` (what follows the image's entry point) run; checks options."""
    command: click.Command = main
    words = list(arguments)
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    assert not isinstance(command, click.Group), f"{arguments}: not a command of unisson"
    command.make_context(command.name or "", words)  # a wrong option or choice raises here
    return command


def test_compose_example_runs_the_images_commands() -> None:
    compose = yaml.safe_load(COMPOSE.read_text("utf-8"))
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["synapse"]["image"].startswith("matrixdotorg/synapse")
    ours = {name: s for name, s in services.items() if s.get("image", "").startswith("unisson")}
    assert set(ours) == {"migrate", "bot", "dispatcher"}
    for name, service in ours.items():
        assert service["build"] == "." and (COMPOSE.parent.parent / "Dockerfile").exists()  # copied beside it
        assert "entrypoint" not in service, f"{name}: the image's entry point is `unisson`"
        assert service["env_file"] == ".env"
        assert set(service["environment"]) <= documented_settings()
        assert service["environment"]["UNISSON_DATABASE_URL"].startswith("postgresql+asyncpg://unisson:")
        assert "@postgres:5432/" in service["environment"]["UNISSON_DATABASE_URL"]
        resolve(service["command"])

    migrate = ours["migrate"]
    assert resolve(migrate["command"]).name == "upgrade" and migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name, role in (("bot", "bot"), ("dispatcher", "dispatcher")):
        assert ours[name]["command"] == ["run", "--role", role] and role in ROLES
        assert ours[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert ours["dispatcher"]["deploy"]["replicas"] >= 2
    assert "bot:/data" in ours["bot"]["volumes"]  # the bot's Matrix store survives a new container
    with pytest.raises(click.BadParameter):
        resolve(["run", "--role", "everything"])
