"""Reading the publication instant a user types, and refusing every reading that could be wrong.

Users write dates the French way ("20/01/2026 9h30", "lundi 20 janvier 2026 à 09:00") or in ISO 8601.
``dateparser`` reads the date part, but it is silently wrong on relative forms and on some times of day
("demain 9h" drops the hour, "20/01/2026 à 9h" loses it), so:

- relative forms are refused outright, asking for a full date;
- the time of day is read here, by a strict pattern, and dateparser only ever sees the date;
- a weekday, when given, must agree with the date;
- a local time that does not exist (clocks jump forward) or exists twice (clocks go back) is refused with the
  choices spelled out;
- the instant must be in the future.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import regex
from babel.dates import format_date, format_datetime, get_day_names, get_timezone_location

from hub.errors import InvalidInput
from hub.i18n import format_instant, normalize_language, translate

_RELATIVE = regex.compile(
    r"\b(?:demain|apr[eè]s-demain|aujourd['’]hui|hier|avant-hier|prochaine?s?|derni[eè]re?s?|dans|"
    r"ce\s+soir|ce\s+matin|cet\s+apr[eè]s-midi|maintenant|tout\s+[àa]\s+l['’]heure|il\s+y\s+a|"
    r"tomorrow|today|tonight|yesterday|next|last|now|ago|in\s+\d+|this\s+(?:morning|afternoon|evening))\b",
    regex.IGNORECASE,
)
_ISO = regex.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?",
    regex.IGNORECASE,
)

# Times of day: 9h, 9h30, 9 h 30, 9 heures, 09:00, 09:00:00, 9am, 9:30 pm, midi, minuit, noon, midnight.
_TIME = regex.compile(
    r"(?<![\d/.:-])(?:"
    r"(?P<h12>\d{1,2})(?::(?P<m12>\d{2}))?\s*(?P<ampm>[ap])\.?m\.?"
    r"|(?P<h24>\d{1,2})\s*(?:h(?:eures?)?(?![\p{L}])\s*(?P<m24>\d{2})?|:(?P<mc>\d{2})(?::(?P<sc>\d{2}))?)"
    r"|(?P<noon>midi|noon)|(?P<midnight>minuit|midnight)"
    r")(?![\d\p{L}])",
    regex.IGNORECASE,
)

_WEEKDAYS = {
    name: index
    for index, names in enumerate(
        [
            ("lundi", "monday", "lun", "mon"),
            ("mardi", "tuesday", "mar", "tue"),
            ("mercredi", "wednesday", "mer", "wed"),
            ("jeudi", "thursday", "jeu", "thu"),
            ("vendredi", "friday", "ven", "fri"),
            ("samedi", "saturday", "sam", "sat"),
            ("dimanche", "sunday", "dim", "sun"),
        ]
    )
    for name in names
}
# Full names anywhere; abbreviations only in front of the day number, where they cannot be a month ("mar").
_WEEKDAY = regex.compile(
    r"\b(?:(?P<full>lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday)\b|(?P<short>lun|mar|mer|jeu|ven|sam|dim|mon|tue|wed|thu|fri|sat|sun)\.?(?=\s+\d))",
    regex.IGNORECASE,
)

_DATEPARSER_SETTINGS = {
    "DATE_ORDER": "DMY",
    # Only absolute dates: no timestamps, no "in 2 days".
    "PARSERS": ["custom-formats", "absolute-time"],
}
_LANGUAGES = ["fr", "en"]
#: How far to look for the edges of a daylight-saving gap (real gaps last an hour, rarely more).
_GAP_SEARCH = timedelta(hours=25)


def parse_instant(text: str, *, zone: str = "Europe/Paris", now: datetime, lang: str = "fr") -> datetime:
    """The future instant ``text`` names, as an aware UTC datetime.

    A date without an offset is read in ``zone``. Raises :class:`InvalidInput` with a message in ``lang``
    (render it in that language: the dates it quotes are already written in it) when the text is relative,
    lacks a time of day or a full date, names the wrong weekday, names a local time that does not exist or
    exists twice, or is not in the future.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    lang = normalize_language(lang)
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InvalidInput("schedule.empty")
    if _RELATIVE.search(cleaned):
        raise InvalidInput("schedule.relative", text=cleaned)
    tz = ZoneInfo(zone)
    if _ISO.fullmatch(cleaned):
        instant = _iso_instant(cleaned, tz, zone, lang)
    else:
        local = _read(cleaned, now.astimezone(tz).replace(tzinfo=None), lang)
        instant = _localize(local, tz, zone, lang)
    if instant <= now:
        raise InvalidInput("schedule.past", when=format_instant(instant, zone, lang))
    return instant.astimezone(UTC)


def parse_deadline(text: str, zone: str, now: datetime, lang: str) -> datetime:
    """The sign-on deadline ``text`` names (as :func:`parse_instant`), its errors saying it is the deadline."""
    try:
        return parse_instant(text, zone=zone, now=now, lang=lang)
    except InvalidInput as problem:
        raise InvalidInput("error.schedule.deadline_invalid", detail=problem.message(lang)) from problem


def describe_instant(dt: datetime, zone: str, lang: str) -> str:
    """``dt`` in full, in ``zone``, to echo back what was understood before anything is scheduled."""
    return format_instant(dt, zone, lang)


def _iso_instant(text: str, tz: ZoneInfo, zone: str, lang: str) -> datetime:
    if len(text) == len("2026-01-20"):
        raise InvalidInput("schedule.no_time", text=text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("schedule.bad_date", text=text) from None
    if parsed.tzinfo is not None:
        # An explicit offset names one instant: nothing to interpret.
        return parsed
    return _localize(parsed, tz, zone, lang)


def _read(text: str, base: datetime, lang: str) -> datetime:
    """The wall-clock time ``text`` names: a date, a time of day and an optional weekday that must agree."""
    at, rest = _time_of_day(text)
    weekday, rest = _weekday(rest)
    day = _date(rest, text, base)
    if weekday is not None and weekday[1] != day.weekday():
        raise InvalidInput(
            "schedule.wrong_weekday",
            typed=get_day_names("wide", locale=lang)[weekday[1]],
            day=format_date(day, "d MMMM y", locale=lang),
            weekday=format_date(day, "EEEE", locale=lang),
        )
    return datetime.combine(day, at)


def _time_of_day(text: str) -> tuple[time, str]:
    """The one time of day in ``text``, and the text without it."""
    matches = list(_TIME.finditer(text))
    if not matches:
        raise InvalidInput("schedule.no_time", text=text)
    if len(matches) > 1:
        raise InvalidInput("schedule.two_times", first=matches[0].group(), second=matches[1].group())
    match = matches[0]
    at = _clock(match)
    if at is None:
        raise InvalidInput("schedule.bad_time", time=match.group())
    return at, text[: match.start()] + " " + text[match.end() :]


def _clock(match: regex.Match[str]) -> time | None:
    """The time a pattern match names, or None when its numbers are out of range ("25h", "9h75")."""
    if match.group("noon"):
        return time(12, 0)
    if match.group("midnight"):
        return time(0, 0)
    if match.group("ampm"):
        hour, minute = int(match.group("h12")), int(match.group("m12") or 0)
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match.group("ampm").lower() == "p" else 0)
        second = 0
    else:
        hour = int(match.group("h24"))
        minute = int(match.group("m24") or match.group("mc") or 0)
        second = int(match.group("sc") or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def _weekday(text: str) -> tuple[tuple[str, int] | None, str]:
    """The weekday named in ``text`` (as typed, and its index), and the text without it."""
    found: tuple[str, int] | None = None
    for match in _WEEKDAY.finditer(text):
        typed = match.group()
        index = _WEEKDAYS[(match.group("full") or match.group("short")).lower()]
        if found is not None and found[1] != index:
            raise InvalidInput("schedule.two_weekdays", first=found[0], second=typed)
        found = (typed, index)
    return found, _WEEKDAY.sub(" ", text)


def _date(rest: str, text: str, base: datetime) -> date:
    """The calendar date in ``rest`` (the text without its time and weekday); day, month and year required."""
    # Imported here: its language data weigh some 11 MB, which the dispatcher (it never reads a date) need not hold.
    import dateparser

    settings = _DATEPARSER_SETTINGS | {"RELATIVE_BASE": base}
    full = dateparser.parse(rest, languages=_LANGUAGES, settings=settings | {"REQUIRE_PARTS": ["day", "month", "year"]})
    if full is not None:
        return full.date()
    if dateparser.parse(rest, languages=_LANGUAGES, settings=settings) is not None:
        # It is a date, but not a complete one ("20 janvier 9h"): a missing year is never guessed.
        raise InvalidInput("schedule.incomplete_date", text=text)
    raise InvalidInput("schedule.bad_date", text=text)


def _localize(local: datetime, tz: ZoneInfo, zone: str, lang: str) -> datetime:
    """The instant of the wall-clock time ``local`` in ``tz``, refusing one that is skipped or repeated."""
    readings = [local.replace(tzinfo=tz, fold=fold) for fold in (0, 1)]
    # A reading is real when it survives a round trip through UTC unchanged.
    real = [r for r in readings if _wall(r.astimezone(UTC).astimezone(tz)) == local]
    offsets = {r.utcoffset() for r in real}
    if not real:
        before, after = _gap_edges(local, tz)
        raise InvalidInput(
            "schedule.gap",
            when=_short(local, lang),
            city=_city(zone, lang),
            start=_short(before + timedelta(minutes=1), lang, local.date()),
            before=_short(before, lang, local.date()),
            after=_short(after, lang, local.date()),
        )
    if len(offsets) > 1:
        first, second = sorted(real, key=lambda r: r.astimezone(UTC))
        raise InvalidInput(
            "schedule.ambiguous",
            when=_short(local, lang),
            city=_city(zone, lang),
            first=_with_offset(first),
            first_offset=_offset(first),
            second=_with_offset(second),
            second_offset=_offset(second),
        )
    return real[0]


def _gap_edges(local: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The last wall-clock minute before a daylight-saving gap and the first one after it."""
    step = timedelta(minutes=1)
    start = local.replace(second=0, microsecond=0)
    before, after = start - step, start + step
    while not _exists(before, tz) and start - before < _GAP_SEARCH:
        before -= step
    while not _exists(after, tz) and after - start < _GAP_SEARCH:
        after += step
    return before, after


def _exists(local: datetime, tz: ZoneInfo) -> bool:
    return _wall(local.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)) == local


def _wall(aware: datetime) -> datetime:
    return aware.replace(tzinfo=None, fold=0)


def _with_offset(aware: datetime) -> str:
    """The ISO form with its offset, which the user can type back to choose this reading."""
    return aware.isoformat(timespec="minutes")


def _offset(aware: datetime) -> str:
    """``UTC+02:00``."""
    return "UTC" + aware.isoformat(timespec="minutes")[-6:]


def _short(local: datetime, lang: str, same_day: date | None = None) -> str:
    """``02:30`` when the day goes without saying, else ``dimanche 29 mars 2026 à 02:30``."""
    pattern = "HH:mm" if same_day is not None and local.date() == same_day else translate("format.datetime", lang)
    return str(format_datetime(local, pattern, locale=lang))


def _city(zone: str, lang: str) -> str:
    return str(get_timezone_location(ZoneInfo(zone), locale=lang, return_city=True))
