"""A real Bluesky PDS (``@atproto/pds``) with its own PLC directory, started on loopback for tests.

The Node side lives in ``sandbox/pds/`` (pinned ``package.json`` + ``package-lock.json`` and ``start.mjs``).
:func:`ensure_installed` installs it with ``npm ci`` when needed; :func:`run_pds` starts it on free ports and
stops it on exit::

    async with run_pds() as pds:
        account = await pds.create_account("ville-a.test", "a@example.org", "a-long-password")
        app_password = await pds.create_app_password(account.access_jwt, "unisson")
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import aiohttp

from sandbox.process import log_tail, stop, wait_until_ok

PDS_DIR = Path(__file__).resolve().parent / "pds"
"""Where the Node package of the sandbox PDS lives."""

# Written into node_modules after a successful install; a different digest means the install is stale.
_STAMP_NAME = ".unisson-install.sha256"
# Debian's and NodeSource's packages put the Node headers here; node-gyp needs them to build
# better-sqlite3 and would otherwise try to download them, which is not possible offline.
_NODE_HEADERS_DIR = Path("/usr")
_STOP_GRACE_SECONDS = 10.0
_LOG_TAIL_LINES = 30


class SandboxError(RuntimeError):
    """The sandbox PDS could not be installed, started or used."""


class XrpcError(SandboxError):
    """An XRPC call answered with an error status."""

    def __init__(self, method: str, status: int, body: Mapping[str, Any]) -> None:
        self.method = method
        self.status = status
        self.error = str(body.get("error", ""))
        self.detail = str(body.get("message", ""))
        super().__init__(f"{method} answered {status} {self.error}: {self.detail}")


class Account(NamedTuple):
    """A freshly created PDS account and its first session tokens."""

    did: str
    handle: str
    access_jwt: str
    refresh_jwt: str


def ensure_installed(path: Path = PDS_DIR) -> None:
    """Run ``npm ci`` in ``path`` unless its ``node_modules`` matches the current package files.

    Blocking (a first install compiles better-sqlite3 and takes about two minutes): call it from a thread in
    async code. Raises :class:`SandboxError` if Node.js or npm is missing or the install fails.
    """
    npm = _require_tool("npm")
    _require_tool("node")
    digest = _package_digest(path)
    stamp = path / "node_modules" / _STAMP_NAME
    if stamp.is_file() and stamp.read_text(encoding="ascii").strip() == digest:
        return
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=path,
        env=_npm_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise SandboxError(f"`npm ci` failed in {path}:\n" + "\n".join(output[-_LOG_TAIL_LINES:]))
    stamp.write_text(digest + "\n", encoding="ascii")


def is_installed(path: Path = PDS_DIR) -> bool:
    """Whether the PDS can start without installing anything: Node.js is on PATH and ``node_modules`` matches
    the package files (the demo uses the real PDS then, and the Bluesky double otherwise)."""
    stamp = path / "node_modules" / _STAMP_NAME
    if shutil.which("node") is None or not stamp.is_file():
        return False
    return stamp.read_text(encoding="ascii").strip() == _package_digest(path)


def _require_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SandboxError(
            f"`{name}` is not on PATH; the sandbox PDS needs Node.js 20+ with npm "
            "(Debian: `apt-get install nodejs npm`)."
        )
    return found


def _package_digest(path: Path) -> str:
    # package.json counts too: its allowScripts decide whether better-sqlite3 gets built.
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((path / name).read_bytes())
    return digest.hexdigest()


def _npm_env() -> dict[str, str]:
    env = dict(os.environ)
    if "npm_config_nodedir" not in env:
        if not (_NODE_HEADERS_DIR / "include" / "node" / "node.h").is_file():
            raise SandboxError(
                "The Node.js headers are missing (/usr/include/node/node.h); better-sqlite3 cannot be "
                "built. Install them (Debian: `apt-get install libnode-dev`) or set npm_config_nodedir."
            )
        env["npm_config_nodedir"] = str(_NODE_HEADERS_DIR)
    return env


@dataclass
class RunningPds:
    """A started sandbox PDS: its URLs, its log file and an HTTP session to call it."""

    url: str
    plc_url: str
    log_path: Path
    http: aiohttp.ClientSession

    def xrpc_url(self, method: str) -> str:
        """The URL of the XRPC ``method`` (an NSID such as ``com.atproto.repo.createRecord``)."""
        return f"{self.url}/xrpc/{method}"

    async def create_account(self, handle: str, email: str, password: str) -> Account:
        """Create an account with ``com.atproto.server.createAccount``; handles end in ``.test``."""
        body = {"handle": handle, "email": email, "password": password}
        answer = await self._post("com.atproto.server.createAccount", body)
        return Account(answer["did"], answer["handle"], answer["accessJwt"], answer["refreshJwt"])

    async def create_app_password(self, access_jwt: str, name: str) -> str:
        """Create an app password named ``name`` for the session's account and return it."""
        answer = await self._post("com.atproto.server.createAppPassword", {"name": name}, token=access_jwt)
        return str(answer["password"])

    async def _post(self, method: str, body: Mapping[str, Any], token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.post(self.xrpc_url(method), json=body, headers=headers) as response:
            answer: dict[str, Any] = await response.json()
            if response.status != 200:
                raise XrpcError(method, response.status, answer)
            return answer


@contextlib.asynccontextmanager
async def run_pds(
    path: Path = PDS_DIR, *, log_path: Path | None = None, start_timeout: float = 60.0
) -> AsyncIterator[RunningPds]:
    """Install if needed, start the PDS and its PLC directory on free loopback ports, and stop them on exit.

    The Node process writes to ``log_path`` (a new temporary file by default); its path is in every
    :class:`SandboxError` raised while starting. ``start_timeout`` does not count the installation.
    """
    await asyncio.to_thread(ensure_installed, path)
    if log_path is None:
        log_path = await asyncio.to_thread(_new_log_path)
    async with contextlib.AsyncExitStack() as stack:
        # Unbuffered, so that the file is complete when an error shows its last lines.
        log = await asyncio.to_thread(log_path.open, "ab", 0)
        stack.callback(log.close)
        process = await asyncio.create_subprocess_exec(
            _require_tool("node"), "start.mjs", cwd=path, stdout=asyncio.subprocess.PIPE, stderr=log
        )
        stack.push_async_callback(stop, process, _STOP_GRACE_SECONDS)
        deadline = asyncio.get_running_loop().time() + start_timeout
        ready = await _read_ready_line(process, log, log_path, deadline)
        # Anything the process prints later goes to the log, so a full pipe can never block it.
        drain = asyncio.create_task(_copy_to_log(process, log))
        stack.push_async_callback(_stop_then_drain, process, drain)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        pds = RunningPds(url=ready["pds"], plc_url=ready["plc"], log_path=log_path, http=http)
        if (problem := await wait_until_ok(http, pds.xrpc_url("_health"), process, deadline)) is not None:
            raise _start_failure(problem, log_path)
        yield pds


def _new_log_path() -> Path:
    handle, name = tempfile.mkstemp(prefix="unisson-pds-", suffix=".log")
    os.close(handle)
    return Path(name)


async def _read_ready_line(
    process: asyncio.subprocess.Process, log: IO[bytes], log_path: Path, deadline: float
) -> dict[str, str]:
    """Wait for the starter's JSON line with the URLs; the log lines printed before it go to the log file."""
    assert process.stdout is not None
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            line = await asyncio.wait_for(process.stdout.readline(), max(remaining, 0))
        except TimeoutError:
            raise _start_failure("was not ready in time", log_path) from None
        if not line:
            raise _start_failure(f"exited with status {await process.wait()}", log_path)
        with contextlib.suppress(ValueError):
            ready = json.loads(line)
            if isinstance(ready, dict) and {"pds", "plc"} <= ready.keys():
                return ready
        log.write(line)


async def _copy_to_log(process: asyncio.subprocess.Process, log: IO[bytes]) -> None:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        log.write(line)


async def _stop_then_drain(process: asyncio.subprocess.Process, drain: asyncio.Task[None]) -> None:
    # The copy ends by itself when the process closes its stdout, which it does when it exits.
    await stop(process, _STOP_GRACE_SECONDS)
    await drain


def _start_failure(reason: str, log_path: Path) -> SandboxError:
    tail = log_tail(log_path, _LOG_TAIL_LINES)
    return SandboxError(f"The sandbox PDS {reason}; its log is {log_path}. Last lines:\n{tail}")
