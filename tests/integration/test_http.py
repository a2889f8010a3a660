"""The HTTP side of ``unisson run``: ``/healthz``, ``/readyz``, Prometheus ``/metrics``, and a clean SIGTERM.

The first test runs the command as an operator would, in a process of its own on an embedded SQLite data folder,
publishing to the Bluesky and Mastodon doubles served by the test; the others check readiness and metrics in
this process, on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.settings import BotSettings
from hub.core import Hub, utc_now
from hub.crypto import SecretBox, generate_key
from hub.dispatch.worker import Dispatcher
from hub.domain.model import AnnouncementState, DeliveryState
from hub.errors import UnissonError
from hub.publishers.base import RateLimit
from hub.settings import Settings
from hub.store import Store, migrate
from hub.web.app import HttpEndpoint, Monitoring
from sandbox import mastodon
from sandbox.bluesky import BlueskyDouble
from sandbox.fleet import PASSWORD, build_fleet, token_of, use_servers
from sandbox.mastodon import MastodonDouble
from tests.integration.helpers import deliveries

ROOT = Path(__file__).resolve().parents[2]
CODES = [("93055", "Pantin"), ("94043", "Le Kremlin-Bicêtre")]
METRICS = (
    "unisson_deliveries",
    "unisson_publish_latency_seconds",
    "unisson_publish_attempts",
    "unisson_publish_retries",
    "unisson_rate_limit_waits",
    "unisson_rate_limit_wait_seconds",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
        return response.status, await response.text()


async def until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.1)


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a ``/metrics`` body: ``(name, sorted labels) → value``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


def families(exposition: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(exposition)}


def process_env(tmp_path: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment of a ``unisson`` process: none of this machine's UNISSON_* settings, ours instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNISSON_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update({"UNISSON_DATA_DIR": str(tmp_path / "data"), "UNISSON_HTTP_PORT": str(port)})
    env.update({f"UNISSON_{name.upper()}": value for name, value in settings.items()})
    return env


async def test_run_serves_probes_and_metrics_while_publishing_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    hub = Hub.from_settings(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
    await migrate.upgrade(hub.store)
    bluesky, masto = BlueskyDouble(seed=3), MastodonDouble(seed=3)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(hub.close)
        blue_url = await stack.enter_async_context(bluesky.serve())
        masto_url = await stack.enter_async_context(masto.serve())
        use_servers(hub, plc_url=blue_url)
        fleet = await build_fleet(
            hub, tmp_path, CODES, timedelta(seconds=3), bluesky=(bluesky, blue_url), mastodon=(masto, masto_url)
        )
        masto.inject("server_error", on=mastodon.CREATE_STATUS)  # one post is tried twice: a retry
        env = process_env(
            tmp_path,
            port,
            bluesky_plc_url=blue_url,
            log_format="json",
            retry_initial_seconds="0.05",
            retry_max_seconds="0.2",
        )
        out, err = (tmp_path / "stdout.txt").open("wb"), (tmp_path / "stderr.txt").open("wb")
        stack.callback(out.close)
        stack.callback(err.close)
        command = [sys.executable, "-m", "bot.cli", "run", "--role", "dispatcher"]
        process = await asyncio.create_subprocess_exec(*command, cwd=tmp_path, env=env, stdout=out, stderr=err)
        stack.push_async_callback(_kill, process)
        session = await stack.enter_async_context(aiohttp.ClientSession())

        async def answers(path: str, status: int) -> bool:
            with contextlib.suppress(aiohttp.ClientError):
                return (await fetch(session, base + path))[0] == status
            return False

        await until(lambda: answers("/healthz", 200), 60, "/healthz answers 200")
        assert json.loads((await fetch(session, base + "/healthz"))[1]) == {"status": "alive"}
        await until(lambda: answers("/readyz", 200), 30, "/readyz answers 200")
        ready = json.loads((await fetch(session, base + "/readyz"))[1])
        assert ready["status"] == "ready" and ready["parts"] == {"dispatcher": True}
        assert ready["schema"] == {"revision": migrate.head_revision(), "head": migrate.head_revision()}

        async def published() -> bool:
            return (await hub.announcements.get(fleet.announcement.id)).state is AnnouncementState.PUBLISHED

        await until(published, 60, "the announcement is published by the process")
        status, exposition = await fetch(session, base + "/metrics")
        assert status == 200
        assert set(METRICS) <= families(exposition)
        values = samples(exposition)
        in_database = Counter(d.state for d in await deliveries(hub, fleet.announcement.id))
        assert in_database == {DeliveryState.PUBLISHED: 4}
        for state in DeliveryState:
            assert values[("unisson_deliveries", (("state", state.value),))] == in_database[state]
        assert values[("unisson_publish_latency_seconds_count", ())] == 4  # one per accepted post
        assert values[("unisson_publish_latency_seconds_bucket", (("le", "60.0"),))] == 4
        assert values[("unisson_publish_latency_seconds_sum", ())] > 0
        assert values[("unisson_publish_retries_total", ())] >= 1
        assert values[("unisson_publish_attempts_total", ())] >= 5
        assert values[("unisson_rate_limit_waits_total", ())] == 0

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    output = (tmp_path / "stdout.txt").read_text("utf-8")
    assert f"Point d'accès HTTP : {base}" in output and "s'est arrêté proprement" in output
    logs = (tmp_path / "stderr.txt").read_text("utf-8")
    entries = [json.loads(line) for line in logs.splitlines()]  # one JSON object per line, nothing else
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(e["logger"] == "hub.web.app" and base in e["message"] for e in entries)
    for secret in (PASSWORD, *(token_of(code) for code, _ in CODES)):
        assert secret not in logs and secret not in output


async def test_run_with_every_role_is_ready_once_the_bot_is_logged_in(
    bot_settings: BotSettings, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = bot_settings.access_token.get_secret_value()
    matrix = {
        "matrix_homeserver": bot_settings.homeserver,
        "matrix_user_id": bot_settings.user_id,
        "matrix_access_token": token,
        "matrix_store_path": str(bot_settings.store_path),
    }
    with (tmp_path / "output.txt").open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "bot.cli", "run"],
            cwd=tmp_path,
            env=process_env(tmp_path, port, **matrix),
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with aiohttp.ClientSession() as session:

                async def ready() -> bool:
                    with contextlib.suppress(aiohttp.ClientError):
                        return (await fetch(session, base + "/readyz"))[0] == 200
                    return False

                await until(ready, 60, "/readyz answers 200")
                body = json.loads((await fetch(session, base + "/readyz"))[1])
                assert body["parts"] == {"bot": True, "dispatcher": True}
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 30) == 0
        finally:
            await _kill(process)
    output = (tmp_path / "output.txt").read_text("utf-8")
    assert "Bot arrêté." in output and "s'est arrêté proprement" in output
    assert token not in output


async def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def endpoint_of(hub: Hub, stop: asyncio.Event, parts: tuple[str, ...] = ()) -> AsyncIterator[str]:
    endpoint = HttpEndpoint(Monitoring(hub, stop, parts))
    await endpoint.start("127.0.0.1", 0)
    try:
        yield endpoint.url
    finally:
        await endpoint.stop()


def hub_on(url: str, tmp_path: Path) -> Hub:
    settings = Settings(data_dir=tmp_path, database_url=url, _env_file=None)  # type: ignore[call-arg]
    return Hub(Store.from_url(url), SecretBox([generate_key()]), settings)


async def test_readyz_is_503_until_the_schema_is_at_the_head_and_while_stopping(
    database_url: str, tmp_path: Path
) -> None:
    hub, stop = hub_on(database_url, tmp_path), asyncio.Event()
    async with endpoint_of(hub, stop) as base, aiohttp.ClientSession() as session:
        status, body = await fetch(session, base + "/readyz")
        assert status == 503  # never migrated
        assert json.loads(body) == {
            "status": "not ready",
            "reason": "schema_outdated",
            "schema": {"revision": None, "head": migrate.head_revision()},
        }
        await migrate.upgrade(hub.store, "0003")  # an older revision: this version's code needs more
        status, body = await fetch(session, base + "/readyz")
        assert status == 503 and json.loads(body)["schema"]["revision"] == "0003"

        await migrate.upgrade(hub.store)
        status, body = await fetch(session, base + "/readyz")
        assert status == 200 and json.loads(body)["schema"]["revision"] == migrate.head_revision()
        assert (await fetch(session, base + "/healthz"))[0] == 200

        stop.set()
        status, body = await fetch(session, base + "/readyz")
        assert status == 503 and json.loads(body)["reason"] == "stopping"
    await hub.close()


async def test_readyz_waits_for_every_part_and_follows_the_dispatchers_heartbeat(hub: Hub) -> None:
    stop = asyncio.Event()
    monitoring = Monitoring(hub, stop, ("bot", "dispatcher"))
    endpoint = HttpEndpoint(monitoring)
    await endpoint.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:

            async def readiness() -> tuple[int, dict[str, object]]:
                status, body = await fetch(session, endpoint.url + "/readyz")
                return status, json.loads(body)

            status, body = await readiness()
            assert status == 503 and body["reason"] == "not_running"
            assert body["parts"] == {"bot": False, "dispatcher": False}
            monitoring.health.up("bot")
            dispatcher = Dispatcher(hub, metrics=monitoring.metrics)
            monitoring.watch_dispatcher(dispatcher)
            assert (await readiness())[1]["parts"] == {"bot": True, "dispatcher": False}  # not started yet

            running = asyncio.create_task(dispatcher.run(stop))
            try:

                async def ready() -> bool:
                    return (await readiness())[0] == 200

                await until(ready, 10, "the dispatcher's heartbeat makes the process ready")
                hub.clock = lambda: datetime.now(UTC) + timedelta(seconds=hub.settings.worker_timeout_seconds + 5)
                status, body = await readiness()  # a heartbeat older than the timeout: others take its posts
                assert status == 503 and body["parts"] == {"bot": True, "dispatcher": False}
            finally:
                stop.set()
                await asyncio.wait_for(running, 15)
    finally:
        await endpoint.stop()


async def test_metrics_count_deliveries_latency_and_rate_limit_waits(hub: Hub) -> None:
    hub.clock = utc_now  # the gate waits in real time
    monitoring = Monitoring(hub, asyncio.Event(), ("dispatcher",))
    dispatcher = Dispatcher(hub, metrics=monitoring.metrics)
    monitoring.watch_dispatcher(dispatcher)

    now = datetime.now(UTC)
    window = RateLimit(limit=300, remaining=0, reset=now + timedelta(seconds=0.2))
    async with dispatcher.gates.of("https://mastodon.example").slot(lambda: window):
        pass  # waited for the window's reset first
    instant = now - timedelta(seconds=3)
    monitoring.metrics.published(instant, now)
    monitoring.metrics.published(instant, now + timedelta(seconds=100))
    monitoring.metrics.published(None, now)  # an announcement without an instant is not timed

    values = samples((await monitoring.metrics.exposition()).decode())
    assert values[("unisson_rate_limit_waits_total", ())] == 1
    assert 0.2 <= values[("unisson_rate_limit_wait_seconds_total", ())] < 2.0
    assert values[("unisson_publish_latency_seconds_count", ())] == 2
    assert values[("unisson_publish_latency_seconds_sum", ())] == pytest.approx(3 + 103)
    assert values[("unisson_publish_latency_seconds_bucket", (("le", "5.0"),))] == 1
    assert {values[("unisson_deliveries", (("state", s.value),))] for s in DeliveryState} == {0}


async def test_an_unreachable_database_is_not_ready_and_metrics_still_answer(tmp_path: Path) -> None:
    hub = hub_on(f"postgresql+asyncpg://unisson:secret@127.0.0.1:{free_port()}/unisson", tmp_path)
    async with endpoint_of(hub, asyncio.Event()) as base, aiohttp.ClientSession() as session:
        status, body = await fetch(session, base + "/readyz")
        assert status == 503 and json.loads(body)["reason"] == "database_unreachable"
        assert "secret" not in body
        status, exposition = await fetch(session, base + "/metrics")
        assert status == 200 and "unisson_publish_retries_total" in exposition
        assert not [key for key in samples(exposition) if key[0] == "unisson_deliveries"]  # no stale numbers
    await hub.close()


async def test_a_port_in_use_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    hub = hub_on(f"sqlite+aiosqlite:///{tmp_path / 'unisson.db'}", tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UnissonError) as raised:
            await HttpEndpoint(Monitoring(hub, asyncio.Event(), ())).start("127.0.0.1", port)
    assert f"127.0.0.1:{port}" in raised.value.message("fr") and "UNISSON_HTTP_PORT" in raised.value.message("fr")
    await hub.close()
