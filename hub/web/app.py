"""The aiohttp application of ``unisson run`` and what it watches.

- ``GET /healthz``: 200 while the process answers at all (for a liveness probe or Docker's HEALTHCHECK).
- ``GET /readyz``: 200 when the process may be sent work, else 503; both with a JSON body saying why
  (see :mod:`hub.web.health`).
- ``GET /metrics``: Prometheus' text format (see :mod:`hub.web.metrics`).
- The web pages: the coordinators' status table, the public pages and the Atom feed (see :mod:`hub.web.pages`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from hub.core import Hub
from hub.errors import UnissonError
from hub.settings import Settings
from hub.web.health import Health
from hub.web.metrics import Metrics

if TYPE_CHECKING:
    from hub.dispatch.worker import Dispatcher

log = logging.getLogger(__name__)


class Monitoring:
    """What the HTTP endpoint shows of one process: whether it is ready, and its metrics."""

    def __init__(self, hub: Hub, stop: asyncio.Event, parts: Iterable[str]) -> None:
        self.hub = hub
        self.health = Health(hub.store, stop, parts)
        self.metrics = Metrics(hub.store)

    def watch_dispatcher(self, dispatcher: Dispatcher) -> None:
        """The dispatcher runs while its heartbeat is current (other workers would take its posts otherwise)."""
        self.metrics.watch(dispatcher)
        self.health.watch("dispatcher", lambda: self._beating(dispatcher.worker_id))

    async def _beating(self, worker_id: str) -> bool:
        since = self.hub.clock() - timedelta(seconds=self.hub.settings.worker_timeout_seconds)
        async with self.hub.store.unit() as uow:
            return worker_id in await uow.workers.alive(since)


_MONITORING = web.AppKey("monitoring", Monitoring)


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _readyz(request: web.Request) -> web.Response:
    readiness = await request.app[_MONITORING].health.readiness()
    return web.json_response(readiness.as_json(), status=200 if readiness.ready else 503)


async def _metrics(request: web.Request) -> web.Response:
    body = await request.app[_MONITORING].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def make_app(monitoring: Monitoring) -> web.Application:
    app = web.Application()
    app[_MONITORING] = monitoring
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    # Imported here: a process without an HTTP endpoint (``UNISSON_HTTP_PORT=0``, extra dispatchers) does not
    # load the pages' templates (Jinja2) at all, some 9 MB of memory.
    from hub.web.oauth import add_oauth_routes
    from hub.web.pages import add_routes

    add_routes(app, monitoring.hub)
    add_oauth_routes(app, monitoring.hub)
    return app


class HttpEndpoint:
    """The application served on one address; no access log (probes would fill it)."""

    def __init__(self, monitoring: Monitoring) -> None:
        self._runner = web.AppRunner(make_app(monitoring), access_log=None)
        self.url = ""

    async def start(self, host: str, port: int) -> None:
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError as error:
            await self._runner.cleanup()
            raise UnissonError("web.unavailable", address=f"{host}:{port}", detail=error.strerror or "") from error
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"
        log.info("HTTP endpoint on %s (/healthz, /readyz, /metrics and the web pages)", self.url)

    async def stop(self) -> None:
        await self._runner.cleanup()


@asynccontextmanager
async def serving(settings: Settings, monitoring: Monitoring) -> AsyncIterator[HttpEndpoint | None]:
    """Serves ``monitoring`` on ``UNISSON_HTTP_HOST:UNISSON_HTTP_PORT`` while in the block (nothing on port 0)."""
    if settings.http_port == 0:
        yield None
        return
    endpoint = HttpEndpoint(monitoring)
    await endpoint.start(settings.http_host, settings.http_port)
    try:
        yield endpoint
    finally:
        await endpoint.stop()
