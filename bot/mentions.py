"""Mentions as people write them: a pill shows a display name; the event says whose it is.

Element writes a mention as a link to ``https://matrix.to/#/@marie:exemple.fr`` in the HTML body, lists the id
in ``m.mentions``, and leaves only the display name ("Marie Dupont") in the plain ``body``. Commands read the
plain body; :func:`with_user_ids` puts the ids back in place of the names there, so a command that expects a
Matrix id (``!referent``, ``!coordinateur``) gets one however the person was mentioned.

Without HTML, ``m.mentions`` alone does not say which words are the name: a mentioned person's display name
(as the room knows it) is taken for them where it stands as whole words — except in a reply, which lists the
author of the message it answers whether or not the text names them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.render import HTML_FORMAT
from hub.domain.identifiers import check_matrix_user_id
from hub.errors import InvalidInput

#: Characters that may touch a name without being part of it ("Marie Dupont: bonjour", "(Marie)").
_SEPARATORS = frozenset(',;:!?()[]«»"')
#: The element in which older clients quote the message being replied to: its pills are not the sender's.
_REPLY_QUOTE = "mx-reply"


@dataclass(frozen=True, slots=True)
class Pill:
    """A mention in a message: the text shown, and the Matrix id it stands for."""

    text: str
    user_id: str
    #: How many times ``text`` appears earlier in the message: tells this pill from the same words before it.
    earlier: int = 0


def user_of_link(href: str) -> str | None:
    """The Matrix user a link points to: ``https://matrix.to/#/@marie:exemple.fr`` (``?via=``, percent-encoded
    forms too) or ``matrix:u/marie:exemple.fr``; None for anything else (rooms, events, web pages)."""
    parts = urlsplit(href.strip())
    if parts.scheme in ("https", "http") and parts.netloc.lower() == "matrix.to":
        candidate = unquote(parts.fragment.removeprefix("/").split("?", 1)[0])
    elif parts.scheme == "matrix" and parts.path.startswith("u/"):
        candidate = "@" + unquote(parts.path.removeprefix("u/").split("/", 1)[0])
    else:
        return None
    try:
        return check_matrix_user_id(candidate)
    except InvalidInput:
        return None


class _PillReader(HTMLParser):
    """Collects the links to users, in order, with the text they show; skips the quoted reply."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pills: list[Pill] = []
        self._quoted = 0
        self._text: list[str] = []
        self._user: str | None = None
        self._start = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == _REPLY_QUOTE:
            self._quoted += 1
        elif tag == "a" and not self._quoted:
            self._user = user_of_link(dict(attrs).get("href") or "")
            self._start = len(self._text)

    def handle_endtag(self, tag: str) -> None:
        if tag == _REPLY_QUOTE:
            self._quoted = max(0, self._quoted - 1)
        elif tag == "a" and self._user is not None:
            shown = "".join(self._text[self._start :]).strip()
            earlier = "".join(self._text[: self._start]).count(shown) if shown else 0
            self.pills.append(Pill(shown, self._user, earlier))
            self._user = None

    def handle_data(self, data: str) -> None:
        if not self._quoted:
            self._text.append(data)


def pills_in(formatted_body: str) -> list[Pill]:
    """The user mentions of an HTML message body, in the order they appear."""
    reader = _PillReader()
    reader.feed(formatted_body)
    reader.close()
    return reader.pills


def command_text(body: str, content: Mapping[str, Any], name_of: Callable[[str], str | None]) -> str:
    """The text of a command (``body``, without reply fallback) with every mention as the user's Matrix id.

    ``content`` is the event's content; ``name_of`` gives a user's display name in the room, if any.
    """
    html = content.get("formatted_body") if content.get("format") == HTML_FORMAT else None
    if isinstance(html, str) and html:
        return with_user_ids(body, html)
    if (content.get("m.relates_to") or {}).get("m.in_reply_to"):
        # A reply lists the author of the message it answers: their name in it need not be a mention.
        return body
    listed = (content.get("m.mentions") or {}).get("user_ids") or []
    names = {u: n for u in listed if isinstance(u, str) and (n := name_of(u))}
    return with_named_users(body, names)


def with_user_ids(body: str, formatted_body: str) -> str:
    """``body`` with the shown name of each pill of ``formatted_body`` replaced by its Matrix id."""
    spans: list[tuple[int, int, str]] = []
    for pill in pills_in(formatted_body):
        at = _nth(body, pill.text, pill.earlier)
        if at < 0 or _overlaps(spans, at, at + len(pill.text)):
            # The plain body differs from the HTML around it: take the first free occurrence instead.
            at = next((i for i in _occurrences(body, pill.text) if not _overlaps(spans, i, i + len(pill.text))), -1)
        if at >= 0:
            spans.append((at, at + len(pill.text), pill.user_id))
    return _splice(body, spans)


def with_named_users(body: str, names: Mapping[str, str]) -> str:
    """``body`` with the display name of each user of ``names`` (id → name), as whole words, replaced by the id."""
    spans: list[tuple[int, int, str]] = []
    for user, name in names.items():
        free = (i for i in _occurrences(body, name) if _whole(body, i, i + len(name)))
        at = next((i for i in free if not _overlaps(spans, i, i + len(name))), -1)
        if at >= 0:
            spans.append((at, at + len(name), user))
    return _splice(body, spans)


def _occurrences(body: str, text: str) -> list[int]:
    """Where ``text`` starts in ``body`` (without overlaps, as :meth:`str.count` counts them)."""
    found: list[int] = []
    at = body.find(text) if text else -1
    while at >= 0:
        found.append(at)
        at = body.find(text, at + len(text))
    return found


def _nth(body: str, text: str, index: int) -> int:
    found = _occurrences(body, text)
    return found[index] if index < len(found) else -1


def _overlaps(spans: list[tuple[int, int, str]], start: int, end: int) -> bool:
    return any(start < e and s < end for s, e, _ in spans)


def _whole(body: str, start: int, end: int) -> bool:
    """Whether ``body[start:end]`` stands apart (not the "Marie" of "Marie-Galante" or "Mariette")."""
    before = body[start - 1] if start > 0 else " "
    after = body[end] if end < len(body) else " "
    return all(c.isspace() or c in _SEPARATORS for c in (before, after))


def _splice(body: str, spans: list[tuple[int, int, str]]) -> str:
    pieces: list[str] = []
    cursor = 0
    for start, end, user_id in sorted(spans):
        pieces += [body[cursor:start], user_id]
        cursor = end
    return "".join(pieces) + body[cursor:]
