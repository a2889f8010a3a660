"""Announcement templates: one wording, personalised per town through placeholders.

A template uses ``str.format`` syntax with a fixed set of fields, French names first and English aliases:
``{ville}``/``{town}``, ``{site}``/``{website}``, ``{newsletter}``, ``{bluesky}``, ``{mastodon}``, ``{code}``.
``{{`` and ``}}`` write literal braces. Format specs and conversions are refused: a wording is text, and
``{ville!r}`` in a post is always a mistake.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from hub.domain.model import Town
from hub.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class _Field:
    """A placeholder: its canonical (French) name and how to read its value from a town."""

    name: str
    value: Callable[[Town], str | None]


def _profile(key: str) -> Callable[[Town], str | None]:
    return lambda town: (town.profile.get(key) or "").strip() or None


def _bluesky(town: Town) -> str | None:
    handle = _profile("bluesky")(town)
    return "@" + handle.lstrip("@") if handle else None


def _mastodon(town: Town) -> str | None:
    return mastodon_mention(_profile("mastodon")(town) or "") or None


def mastodon_mention(account: str) -> str:
    """``user@instance``, ``@user@instance`` or ``https://instance/@user`` → ``@user@instance``."""
    account = account.strip()
    if account.startswith(("http://", "https://")):
        parts = urlsplit(account)
        user = parts.path.strip("/").lstrip("@")
        return f"@{user}@{parts.hostname}" if user and parts.hostname else account
    return "@" + account.lstrip("@") if account else ""


_FIELDS = {
    "ville": _Field("ville", lambda town: town.name.strip() or None),
    "site": _Field("site", _profile("website")),
    "newsletter": _Field("newsletter", _profile("newsletter")),
    "bluesky": _Field("bluesky", _bluesky),
    "mastodon": _Field("mastodon", _mastodon),
    "code": _Field("code", lambda town: (town.code or "").strip() or None),
}

#: Every accepted placeholder name, mapped to its canonical (French) name.
PLACEHOLDERS: dict[str, str] = {name: name for name in _FIELDS} | {"town": "ville", "website": "site"}


@dataclass(frozen=True, slots=True)
class _Part:
    literal: str
    placeholder: str | None  # the name as the user typed it, None after the last literal


def check_template(text: str) -> set[str]:
    """The canonical names of the placeholders ``text`` uses; raises :class:`InvalidInput` if one is wrong."""
    return {PLACEHOLDERS[part.placeholder] for part in _parse(text) if part.placeholder is not None}


def render(text: str, town: Town) -> str:
    """``text`` with every placeholder replaced by ``town``'s value.

    Raises :class:`InvalidInput` naming the town and the field when the town has no value for a placeholder
    the text uses, so the user knows whether to fill in the town's profile or change the text.
    """
    pieces: list[str] = []
    for part in _parse(text):
        pieces.append(part.literal)
        if part.placeholder is not None:
            pieces.append(_value(part.placeholder, town))
    return "".join(pieces)


def _value(placeholder: str, town: Town) -> str:
    field = _FIELDS[PLACEHOLDERS[placeholder]]
    value = field.value(town)
    if value is None:
        raise InvalidInput(f"text.template.missing.{field.name}", town=town.name, placeholder="{" + placeholder + "}")
    return value


def _parse(text: str) -> list[_Part]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        # Python's own message is English and technical; ours says how to fix the braces.
        raise InvalidInput("text.template.malformed") from None
    return [_part(literal, name, spec, conversion) for literal, name, spec, conversion in parsed]


def _part(literal: str, name: str | None, spec: str | None, conversion: str | None) -> _Part:
    if name is None:
        return _Part(literal, None)
    if spec or conversion:
        typed = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        raise InvalidInput("text.template.formatting", placeholder=typed, plain="{" + name + "}")
    if name not in PLACEHOLDERS:
        raise _unknown(name)
    return _Part(literal, name)


def _unknown(name: str) -> InvalidInput:
    close = difflib.get_close_matches(name.lower(), PLACEHOLDERS, n=1)
    if close:
        return InvalidInput(
            "text.template.unknown_suggest", placeholder="{" + name + "}", suggestion="{" + close[0] + "}"
        )
    return InvalidInput("text.template.unknown", placeholder="{" + name + "}")
