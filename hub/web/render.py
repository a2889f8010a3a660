"""Rendering the pages: the Jinja2 environment (autoescaped), the reader's language, dates in words.

Every text that comes from people (titles, wordings, reasons, town names) reaches the HTML through Jinja2's
autoescaping, the catalog's sentences too: a title ``<script>`` shows as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale
from babel.dates import format_date

from hub.i18n import LANGUAGES, format_instant, format_number, normalize_language, translate

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("hub.web", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def choose_language(asked: str | None, accept: str | None, fallback: str) -> str:
    """``?lang=`` when given, else the first language of ``Accept-Language`` we have, else ``fallback``."""
    if asked and asked.lower() in LANGUAGES:
        return asked.lower()
    for tag, _quality in sorted(_accepted(accept or ""), key=lambda item: -item[1]):
        base = tag.split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return normalize_language(fallback)


def _accepted(header: str) -> list[tuple[str, float]]:
    found = []
    for part in header.split(",")[:20]:
        tag, _, rest = part.strip().partition(";")
        quality = 1.0
        if rest.strip().startswith("q="):
            try:
                quality = float(rest.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            found.append((tag, quality))
    return found


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class Words:
    """What a template needs to speak the reader's language: ``t`` for a sentence, dates and numbers."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._day_pattern = translate("web.format.day", lang)
        self._days: dict[date, str] = {}
        # A table of 1,600 towns asks for the same few sentences thousands of times: each is made once.
        self._said: dict[tuple[str, tuple[tuple[str, object], ...]], str] = {}

    def t(self, key: str, **params: object) -> str:
        asked = (key, tuple(sorted(params.items())))
        try:
            return self._said[asked]
        except KeyError:
            said = self._said[asked] = translate(key, self.lang, **params)
            return said
        except TypeError:  # a value that cannot be a key
            return translate(key, self.lang, **params)

    def number(self, value: int) -> str:
        return format_number(value, self.lang)

    def instant(self, when: datetime | None, zone: str) -> str:
        """In full, with the zone's city: ``lundi 20 janvier 2026 à 09:00 (heure de Paris)``."""
        return format_instant(when, zone, self.lang) if when else ""

    def short(self, when: datetime | None, zone: str) -> str:
        """In the table: ``20 janv. 2026 à 09:00``, in the town's zone."""
        if when is None:
            return ""
        local = when.astimezone(_zone(zone))
        return self.t("web.format.short", date=self._day(local.date()), time=f"{local.hour:02d}:{local.minute:02d}")

    def _day(self, day: date) -> str:
        # Babel takes a tenth of a millisecond per date; a table of 1,600 decisions holds only a few days.
        if day not in self._days:
            self._days[day] = str(format_date(day, self._day_pattern, locale=_locale(self.lang)))
        return self._days[day]


def query_string(params: Mapping[str, str], **changes: str) -> str:
    """``?a=1&b=2`` from ``params`` with ``changes`` (an empty value removes the key); ``""`` when empty."""
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v}
    return "?" + urlencode(kept) if kept else ""


def compile_templates() -> None:
    """Compiles every template now, so that the first reader does not wait for it."""
    for name in _ENVIRONMENT.list_templates(extensions=["html"]):
        _ENVIRONMENT.get_template(name)


def render(template: str, words: Words, **context: Any) -> str:
    return _ENVIRONMENT.get_template(template).render(w=words, t=words.t, lang=words.lang, **context)
