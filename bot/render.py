"""Replies as plain text and HTML side by side, with mention pills, and the Matrix content that carries them.

Handlers build a :class:`Reply` with :class:`Rich`; every piece of text goes through :func:`html.escape`, so a
town name or a user's input can never inject markup. :func:`notice_content` turns a reply into an
``m.notice`` event content (HTML with a plain ``body`` fallback, ``m.mentions``, optionally a reply).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

HTML_FORMAT = "org.matrix.custom.html"
#: The most a message's content may weigh, as JSON with every non-ASCII character escaped. Matrix refuses
#: events over 65,536 bytes, and an encrypted event carries its content base64-encoded (a third more) inside
#: an envelope: 40,000 bytes of content stay under the limit either way.
MAX_CONTENT_BYTES = 40_000


@dataclass(frozen=True, slots=True)
class Reply:
    """A message ready to send: the same content as plain text and as HTML, and the users it mentions."""

    plain: str
    html: str
    mentions: tuple[str, ...] = ()
    #: Called by whoever sends the reply once it is queued: starts work whose own messages must come after it
    #: (the invitations that the answer to ``!villes inviter`` announces).
    queued: Callable[[], None] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def text(cls, text: str) -> Reply:
        """A reply made of plain text only (line breaks kept)."""
        return Rich().text(text).build()


def pill_url(user_id: str) -> str:
    """The ``matrix.to`` link clients render as a pill."""
    return "https://matrix.to/#/" + quote(user_id, safe="@:")


def _escape(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", "<br>")


class Rich:
    """Builds plain text and HTML in step; each method returns the builder, to chain calls."""

    def __init__(self) -> None:
        self._plain: list[str] = []
        self._html: list[str] = []
        self._mentions: list[str] = []

    def text(self, text: str) -> Rich:
        self._plain.append(text)
        self._html.append(_escape(text))
        return self

    def strong(self, text: str) -> Rich:
        self._plain.append(text)
        self._html.append(f"<strong>{_escape(text)}</strong>")
        return self

    def code(self, text: str) -> Rich:
        self._plain.append(text)
        self._html.append(f"<code>{_escape(text)}</code>")
        return self

    def mention(self, user_id: str, name: str | None = None) -> Rich:
        """A pill to ``user_id`` (shown as ``name`` if given); the user is also listed in ``m.mentions``."""
        shown = name or user_id
        self._plain.append(shown)
        self._html.append(f'<a href="{html.escape(pill_url(user_id))}">{_escape(shown)}</a>')
        if user_id not in self._mentions:
            self._mentions.append(user_id)
        return self

    def link(self, href: str, label: str) -> Rich:
        """A link showing ``label`` (the plain text shows ``label`` then the address)."""
        self._plain.append(f"{label} {href}")
        self._html.append(f'<a href="{html.escape(href, quote=True)}">{_escape(label)}</a>')
        return self

    def line(self) -> Rich:
        """A line break."""
        self._plain.append("\n")
        self._html.append("<br>")
        return self

    def items(self, items: Iterable[Rich]) -> Rich:
        """A bulleted list; each item is its own builder (its mentions are kept)."""
        built = [item.build() for item in items]
        if not built:
            return self
        if self._plain and not self._plain[-1].endswith("\n"):
            self._plain.append("\n")
        self._plain.append("\n".join(f"• {item.plain}" for item in built) + "\n")
        self._html.append("<ul>" + "".join(f"<li>{item.html}</li>" for item in built) + "</ul>")
        for item in built:
            self._mentions.extend(m for m in item.mentions if m not in self._mentions)
        return self

    def is_empty(self) -> bool:
        return not self._plain

    def ends_with_list(self) -> bool:
        """Whether the last thing added is a bulleted list (which already ends its line)."""
        return bool(self._html) and self._html[-1].endswith("</ul>")

    def build(self) -> Reply:
        return Reply("".join(self._plain).rstrip("\n"), "".join(self._html), tuple(self._mentions))


def notice_content(reply: Reply, *, in_reply_to: str | None = None, also_mention: str | None = None) -> dict[str, Any]:
    """The content of an ``m.notice`` carrying ``reply``.

    ``in_reply_to`` makes it a reply to that event; ``also_mention`` (its sender, as the spec recommends for
    replies) is added to ``m.mentions``.
    """
    mentions = list(reply.mentions)
    if also_mention and also_mention not in mentions:
        mentions.append(also_mention)
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": reply.plain,
        "format": HTML_FORMAT,
        "formatted_body": reply.html,
        "m.mentions": {"user_ids": mentions},
    }
    if in_reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": in_reply_to}}
    return content


def weight(reply: Reply) -> int:
    """How many bytes ``reply`` adds to a message's content (see :data:`MAX_CONTENT_BYTES`)."""
    return len(json.dumps([reply.plain, reply.html, list(reply.mentions)]))


@dataclass(frozen=True, slots=True)
class Section:
    """A titled bulleted list in a long message; the title is repeated when the list goes on in the next one."""

    title: str
    items: Sequence[Rich]


def paginate(
    head: Rich, sections: Iterable[Section], continued: Callable[[], Rich], limit: int = MAX_CONTENT_BYTES
) -> list[Reply]:
    """``head`` then the ``sections``, over as many messages as needed for each to stay under ``limit`` bytes.

    Every message after the first starts with a fresh ``continued()`` heading. An item is never cut in two.
    """
    pages: list[Reply] = []
    page, used, filled = head, weight(head.build()), False
    for section in sections:
        batch: list[Rich] = []
        title = weight(Rich().strong(section.title).build())
        for item in section.items:
            size = weight(item.build()) + _ITEM_OVERHEAD
            extra = 0 if batch else title
            if filled and used + extra + size > limit:
                _close(page, section.title, batch)
                pages.append(page.build())
                page, used, filled, batch = continued(), weight(continued().build()), False, []
                extra = title
            batch.append(item)
            used += extra + size
            filled = True
        _close(page, section.title, batch)
    pages.append(page.build())
    return pages


#: What a list item costs besides its own text: ``<li></li>``, the bullet and line break of the plain text.
_ITEM_OVERHEAD = 16


def _close(page: Rich, title: str, batch: list[Rich]) -> None:
    if not batch:
        return
    if not page.ends_with_list():
        page.line()
    page.strong(title).items(batch)


def shorten(text: str, most: int) -> str:
    """``text``, cut to ``most`` characters (the last one "…") when it is longer."""
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


#: What a bulleted list costs besides its items: ``<ul></ul>`` and the line break before it.
_LIST_OVERHEAD = 16


def item_weight(item: Rich) -> int:
    """What ``item`` adds to a message as one entry of a bulleted list."""
    return weight(item.build()) + _ITEM_OVERHEAD


def fitting(items: Iterable[Rich], room: int, most: int | None = None) -> list[Rich]:
    """The first ``items`` that fit together in a bulleted list of at most ``room`` bytes and ``most`` entries."""
    taken: list[Rich] = []
    used = _LIST_OVERHEAD
    for item in items:
        used += item_weight(item)
        if used > room or len(taken) == most:
            break
        taken.append(item)
    return taken


def batches(items: Iterable[Rich], room: int, most: int | None = None) -> list[list[Rich]]:
    """Every one of ``items``, in order, in groups that each fit in a list of ``room`` bytes and ``most`` entries.

    An item heavier than ``room`` on its own makes a group by itself: it is never cut, nor left out.
    """
    groups: list[list[Rich]] = []
    used = _LIST_OVERHEAD
    for item in items:
        size = item_weight(item)
        if not groups or used + size > room or len(groups[-1]) == most:
            groups.append([])
            used = _LIST_OVERHEAD
        groups[-1].append(item)
        used += size
    return groups


def content_weight(content: dict[str, Any]) -> int:
    """What a message's whole content weighs, measured as :func:`weight` does (see :data:`MAX_CONTENT_BYTES`)."""
    return len(json.dumps(content))


def paginate_list(
    head: Rich, items: Sequence[Rich], continued: Callable[[], Rich], tail: str = "", limit: int = MAX_CONTENT_BYTES
) -> list[Reply]:
    """``head``, the ``items`` as one bulleted list, then ``tail``, over as many messages as needed for each to
    stay under ``limit`` bytes.

    Every message after the first starts with a fresh ``continued()`` heading, and every one ends with ``tail``
    (what to do about the list, which each part must say). An item is never cut in two.
    """
    framing = max(weight(head.build()), weight(continued().build())) + weight(Rich().text(tail).build())
    pages = []
    for number, group in enumerate(batches(items, limit - framing - _FRAME_MARGIN) or [[]]):
        page = (head if number == 0 else continued()).items(group)
        if tail and not page.ends_with_list():
            page.line()
        pages.append(page.text(tail).build())
    return pages


#: Room kept in each message for what surrounds the text: ``msgtype``, ``format``, a reply's relation.
_FRAME_MARGIN = 400
