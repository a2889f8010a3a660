"""Recognising our own post among an account's statuses, whatever the server did to its text.

Servers give a status's text in two forms: ``content``, the HTML they render (paragraphs, links whose
``https://`` is hidden in a span, ``@user`` for ``@user@server``, hashtags as links), and sometimes ``text``.
Mastodon leaves ``text`` out of statuses (it gives the source only in a delete's answer); Takahē puts the
rendered HTML there. So ``text`` is trusted as the source only when it is not HTML, and every form is reduced
to what survives rendering before comparing: NFC, ``@user`` for remote mentions, URLs without their scheme,
whitespace collapsed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

_REMOTE_MENTION = re.compile(r"(?<![\w/=])@(\w+(?:[.\-]+\w+)*)@[\w.\-]+\w", re.UNICODE)
_SCHEME = re.compile(r"\bhttps?://", re.IGNORECASE)
# The tags servers render statuses with; one of them in ``text`` means it is HTML, not the source.
_RENDERED_TAG = re.compile(r"<(?:p|br|a|span)(?:\s[^<>]*)?/?>", re.IGNORECASE)


class _TextOfHtml(HTMLParser):
    """The visible text of a status's HTML; paragraphs and line breaks become whitespace."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def comparable_text(text: str) -> str:
    """``text`` reduced to what survives a server's rendering: NFC, ``@user`` for ``@user@server``, URLs
    without their scheme, one space between words."""
    text = _REMOTE_MENTION.sub(r"@\1", unicodedata.normalize("NFC", text))
    return " ".join(_SCHEME.sub("", text).split())


def html_text(rendered: str) -> str:
    """The visible text of rendered HTML (links, mentions and hashtags keep their visible text)."""
    parser = _TextOfHtml()
    parser.feed(rendered)
    parser.close()
    return "".join(parser.parts)


def looks_rendered(text: str) -> bool:
    """True when ``text`` holds rendered HTML rather than the source we sent."""
    return _RENDERED_TAG.search(text) is not None


def status_plain_text(status: Mapping[str, Any]) -> str:
    """A status's text as we sent it, comparable with :func:`comparable_text`: its source ``text`` when the
    server gives it (and it is not HTML), else the visible text of its HTML."""
    source = status.get("text")
    if isinstance(source, str) and source and not looks_rendered(source):
        return comparable_text(source)
    rendered = source if isinstance(source, str) and source else str(status.get("content") or "")
    return comparable_text(html_text(rendered))


def same_post(status: Mapping[str, Any], wanted: str, images: int, reply_to: str | None = None) -> bool:
    """True when ``status`` is the post whose :func:`comparable_text` is ``wanted``, with ``images`` images,
    answering ``reply_to`` (a status id) or nothing.

    Its ``content`` is compared too: a server may fill ``text`` with something else than what we sent.
    """
    answered = status.get("in_reply_to_id")
    if (str(answered) if answered is not None else None) != reply_to:
        return False
    attachments = status.get("media_attachments")
    if (len(attachments) if isinstance(attachments, list) else 0) != images:
        return False
    return wanted in (status_plain_text(status), comparable_text(html_text(str(status.get("content") or ""))))
