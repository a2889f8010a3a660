"""The HTTP side of ``unisson run``: ``/healthz``, ``/readyz``, Prometheus ``/metrics``, and the web pages
(the coordinators' status table, the public pages and feed of a coalition's announcements).

The hub knows nothing of Matrix: a front end (the bot) says when it is up through :class:`Monitoring`.

This file imports nothing: its modules import one another, and a package that imported them would be part of
every such import (:mod:`hub.web.app` is the entry point).
"""
