"""Log output: readable lines, or one JSON object per line for a log collector (``UNISSON_LOG_FORMAT=json``).

A JSON entry has exactly ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message`` and, when there is one,
``exception`` (the traceback as text). Nothing else of the record is written — not its ``args`` nor any
``extra`` fields — so an entry holds only what the message says, and messages never name a secret.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per entry, on one line (newlines in messages and tracebacks are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str) -> None:
    """Sends the process's logs to standard error in ``log_format`` (``text`` or ``json``).

    Like :func:`logging.basicConfig`, does nothing when logging is already set up (a test harness, an embedder).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
