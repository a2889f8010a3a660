"""Message catalogs (French first, English) and locale-aware formatting.

Catalogs are gettext PO files under ``catalogs/<lang>/``, one file per area, read with Babel. A message id is
a stable key (``error.permission.coordinator``); its text uses ``str.format`` fields.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, get_timezone_location
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"


def normalize_language(lang: str | None) -> str:
    """Map any language tag to one we have a catalog for (``en-GB`` → ``en``), French otherwise."""
    base = (lang or "").split("-")[0].split("_")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


@cache
def catalog(lang: str) -> dict[str, str]:
    """Every message of ``lang``, merged from its PO files."""
    messages: dict[str, str] = {}
    folder = resources.files("hub.i18n") / "catalogs" / lang
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".po"):
            continue
        with entry.open("rb") as handle:
            for message in read_po(handle, locale=lang):
                if message.id and message.string:
                    messages[str(message.id)] = str(message.string)
    return messages


def translate(key: str, lang: str | None = None, /, **params: object) -> str:
    """The message ``key`` in ``lang`` (else French, else the key itself), filled with ``params``."""
    lang = normalize_language(lang)
    text = catalog(lang).get(key) or catalog(DEFAULT_LANGUAGE).get(key) or key
    shown = {name: _show(value, lang) for name, value in params.items()}
    try:
        return text.format(**shown)
    except (KeyError, IndexError, ValueError):
        return text


def _show(value: object, lang: str) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return format_number(value, lang)
    return value


def format_number(value: int, lang: str | None = None) -> str:
    """``3200`` → ``3 200`` in French, ``3,200`` in English."""
    return str(format_decimal(value, locale=normalize_language(lang)))


def format_instant(instant: datetime, zone: str, lang: str | None = None) -> str:
    """An aware instant in full, in the zone where it was agreed.

    ``lundi 20 janvier 2026 à 09:00 (heure de Paris)`` / ``Monday 20 January 2026 at 09:00 (Paris time)``.
    """
    lang = normalize_language(lang)
    local = instant.astimezone(ZoneInfo(zone))
    pattern = translate("format.datetime", lang)
    text = format_datetime(local, pattern, locale=Locale.parse(lang))
    city = get_timezone_location(ZoneInfo(zone), locale=lang, return_city=True)
    return translate("format.datetime_zone", lang, when=text, city=city)
