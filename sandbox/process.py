"""Starting and stopping the local servers the sandbox runs as child processes (the PDS, Synapse)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import aiohttp


async def stop(process: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited after ``grace`` seconds."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
    await process.wait()


async def wait_until_ok(
    http: aiohttp.ClientSession, url: str, process: asyncio.subprocess.Process, deadline: float
) -> str | None:
    """Polls ``url`` until it answers 200; otherwise why not (the process exited, or ``deadline`` passed)."""
    loop = asyncio.get_running_loop()
    while True:
        if process.returncode is not None:
            return f"exited with status {process.returncode}"
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(url) as response:
                if response.status == 200:
                    return None
        if loop.time() > deadline:
            return f"never answered GET {url}"
        await asyncio.sleep(0.1)


def log_tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a log, for an error message."""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
