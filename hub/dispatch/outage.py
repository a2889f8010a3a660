"""How the dispatcher's loops tell the operator that the database is out of reach, and back.

Each loop (claiming, writing outcomes, each side task) tries again at its own pace while the database restarts;
logging each try would print hundreds of lines a minute. A loop says once that the database is out of reach and
once that it is back; other errors are logged in full each time, as bugs.
"""

from __future__ import annotations

import logging

from hub.store import unreachable


class OutageLog:
    """The log of one loop, ``name``: :meth:`failed` after each failed round, :meth:`succeeded` after the others."""

    def __init__(self, name: str, log: logging.Logger) -> None:
        self.name = name
        self.log = log
        self.out_of_reach = False

    def failed(self, error: Exception, retry_in: float) -> None:
        if not unreachable(error):
            self.log.error("%s failed; trying again in %.1f s", self.name, retry_in, exc_info=error)
            return
        if not self.out_of_reach:
            self.log.warning(
                "%s: database out of reach (%s); trying again every %.1f s", self.name, brief(error), retry_in
            )
        self.out_of_reach = True

    def succeeded(self) -> None:
        if self.out_of_reach:
            self.log.info("%s: database back", self.name)
        self.out_of_reach = False


def brief(error: BaseException) -> str:
    """The error's name and first line, without SQLAlchemy's statement and parameters."""
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else '-'}"[:200]
