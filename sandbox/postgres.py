"""A throwaway PostgreSQL server from Debian's packages, for tests and benchmarks.

It runs ``initdb`` and ``postgres`` from ``/usr/lib/postgresql/<version>/bin`` in a temporary folder, listening
only on 127.0.0.1 at a free port, with trust authentication, and removes everything on exit. PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` system user.
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


@contextmanager
def run_postgres(startup_timeout: float = 30.0) -> Iterator[PostgresServer]:
    """Starts a fresh server and yields where it listens; stops it and deletes its data on exit."""
    bin_dir = find_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="unisson-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    os.chmod(root, 0o700)
    port = free_port()
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    subprocess.run(
        _as_server_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(root),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    }
    args = [f"-c{k}={v}" for k, v in options.items()]
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            _as_server_user([str(bin_dir / "postgres"), "-D", str(data), *args]),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(port, process, log, startup_timeout)
        yield PostgresServer("127.0.0.1", port, user)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PostgresUnavailable(f"PostgreSQL exited at start-up:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                # The port opens a moment before the server accepts logins; the log says when it is ready.
                if "ready to accept connections" in log.read_text(errors="replace"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise PostgresUnavailable(f"PostgreSQL did not start within {timeout} s:\n{log.read_text(errors='replace')}")
