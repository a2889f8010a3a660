"""The HTTP side of ``unisson run``: ``/healthz``, ``/readyz``, Prometheus ``/metrics``, and the web pages
(the coordinators' status table, the public pages and feed of a coalition's announcements).

The hub knows nothing of Matrix: a front end (the bot) says when it is up through :class:`Monitoring`.
"""

from __future__ import annotations

from hub.web.app import HttpEndpoint, Monitoring, make_app, serving
from hub.web.health import Health, Readiness
from hub.web.metrics import Metrics

__all__ = ["Health", "HttpEndpoint", "Metrics", "Monitoring", "Readiness", "make_app", "serving"]
