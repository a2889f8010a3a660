"""``unisson demo``: a joint announcement of five towns, from the proposal to the posts, on local servers.

It starts a Synapse homeserver, a Bluesky server (the real PDS where ``sandbox/pds`` is installed, else the
double), the Mastodon double, the hub on SQLite with its dispatcher and the bot, in a folder of its own
(``./data/demo``); then people at Matrix clients play the story (:mod:`demo.script`) while the terminal tells
it. Nothing here is imported by the bot or the hub.
"""

from __future__ import annotations

from demo.run import quiet_logs, run_demo
from demo.script import Result
from demo.stage import DemoOptions

__all__ = ["DemoOptions", "Result", "quiet_logs", "run_demo"]
