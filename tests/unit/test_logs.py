"""Log output: one JSON object per line with exactly the documented fields, and the settings that choose it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from hub.logs import JsonFormatter
from hub.settings import Settings


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("unisson.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_each_entry_is_one_json_object_on_one_line(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    logger.info("Publication à %s :\n%d posts", "Saint-Rémy-lès-Chevreuse", 4, extra={"token": "jeton-secret"})
    logger.warning("attention")
    try:
        raise ValueError("mauvaise valeur")
    except ValueError:
        logger.exception("échec de la livraison %s", 12)

    lines = stream.getvalue().splitlines()
    assert len(lines) == 3  # newlines in messages and tracebacks are escaped inside the object
    first, second, third = (json.loads(line) for line in lines)
    assert set(first) == {"time", "level", "logger", "message"}  # no args, no extra fields
    assert first["message"] == "Publication à Saint-Rémy-lès-Chevreuse :\n4 posts"
    assert first["level"] == "INFO" and first["logger"] == "unisson.test.json"
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert "jeton-secret" not in stream.getvalue()
    assert second["level"] == "WARNING" and "exception" not in second
    assert third["level"] == "ERROR" and third["message"] == "échec de la livraison 12"
    assert third["exception"].startswith("Traceback (most recent call last)")
    assert "ValueError: mauvaise valeur" in third["exception"]


def test_log_format_and_http_settings() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.log_format, settings.http_host, settings.http_port) == ("text", "127.0.0.1", 8080)
    assert Settings(log_format=" JSON ", _env_file=None).log_format == "json"  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(log_format="xml", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(http_port=70000, _env_file=None)  # type: ignore[call-arg]
    assert Settings(http_port=0, _env_file=None).http_port == 0  # type: ignore[call-arg]
