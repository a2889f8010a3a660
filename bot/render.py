"""Replies as plain text and HTML side by side, with mention pills, and the Matrix content that carries them.

Handlers build a :class:`Reply` with :class:`Rich`; every piece of text goes through :func:`html.escape`, so a
town name or a user's input can never inject markup. :func:`notice_content` turns a reply into an
``m.notice`` event content (HTML with a plain ``body`` fallback, ``m.mentions``, optionally a reply).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

HTML_FORMAT = "org.matrix.custom.html"


@dataclass(frozen=True, slots=True)
class Reply:
    """A message ready to send: the same content as plain text and as HTML, and the users it mentions."""

    plain: str
    html: str
    mentions: tuple[str, ...] = ()

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
