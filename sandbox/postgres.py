"""A throwaway PostgreSQL server from Debian's packages, for tests and benchmarks.

It runs ``initdb`` and ``postgres`` from ``/usr/lib/postgresql/<version>/bin`` in a temporary folder, listening
only on 127.0.0.1 at a free port, with trust authentication, and removes everything on exit. PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` system user. :func:`local_postgres`
also lets a test stop the server and start it again (a database restarted under the dispatcher).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """The newest installed server's bin folder."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not candidates:
        raise PostgresUnavailable(
            "PostgreSQL server not found: install it with `apt-get install -y postgresql` (./run tests does)."
        )
    return candidates[-1].parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/postgres"


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class LocalPostgres:
    """A server in its own folder that can be stopped and started again, on the same port and data.

    Stopping is PostgreSQL's fast shutdown: the sessions are ended and their transactions rolled back, as when
    the database of a deployment is restarted under its clients.
    """

    def __init__(self, root: Path, port: int, user: str, bin_dir: Path) -> None:
        self.root = root
        self.port = port
        self.user = user
        self.bin_dir = bin_dir
        self.server = PostgresServer("127.0.0.1", port, user)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def start(self, timeout: float = 30.0) -> None:
        """Starts the server and returns once it accepts connections."""
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        args = [f"-c{k}={v}" for k, v in options.items()]
        ready_before = self._readiness()
        with open(self.log, "ab") as log_file:
            self._process = subprocess.Popen(
                _as_server_user([str(self.bin_dir / "postgres"), "-D", str(self.data), *args]),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        _wait_ready(self.port, self._process, self.log, timeout, ready_before)

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown: ends the sessions at once, rolls back their transactions, and waits for the exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        command = [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"]
        subprocess.run(_as_server_user(command), capture_output=True, timeout=timeout)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _readiness(self) -> int:
        """How many times the log says the server became ready (it is appended to at each start)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count(_READY)


_READY = "ready to accept connections"


@contextmanager
def local_postgres(startup_timeout: float = 30.0) -> Iterator[LocalPostgres]:
    """A fresh, running server that the caller may stop and start; stopped and deleted on exit."""
    bin_dir = find_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="unisson-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    os.chmod(root, 0o700)
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    local = LocalPostgres(root, free_port(), user, bin_dir)
    initdb = [str(bin_dir / "initdb"), "-D", str(local.data), "-U", user, "-A", "trust", "-E", "UTF8"]
    subprocess.run(_as_server_user([*initdb, "--no-sync", "--locale=C"]), check=True, capture_output=True)
    try:
        local.start(startup_timeout)
        yield local
    finally:
        local.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def run_postgres(startup_timeout: float = 30.0) -> Iterator[PostgresServer]:
    """Starts a fresh server and yields where it listens; stops it and deletes its data on exit."""
    with local_postgres(startup_timeout) as local:
        yield local.server


def _wait_ready(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float, ready_before: int) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PostgresUnavailable(f"PostgreSQL exited at start-up:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                # The port opens a moment before the server accepts logins; the log says when it is ready (once
                # more than before this start: a restarted server appends to the same log).
                if log.read_text(errors="replace").count(_READY) > ready_before:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise PostgresUnavailable(f"PostgreSQL did not start within {timeout} s:\n{log.read_text(errors='replace')}")
