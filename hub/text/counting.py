"""How long a text is, as each platform counts it.

Bluesky counts extended grapheme clusters and UTF-8 bytes (``app.bsky.feed.post``: 300 graphemes and 3,000
bytes). Mastodon counts grapheme clusters too, but first rewrites the text the way its server does before
measuring: every ``http(s)://`` link counts as a fixed number of characters (``characters_reserved_per_url``,
23 on stock servers) whatever its length, and a remote mention ``@user@domain`` counts as ``@user``. Bare
domains (``pantin.fr``) are not links for this purpose and count letter by letter.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

#: Mastodon's default ``characters_reserved_per_url``.
MASTODON_URL_LENGTH = 23

_GRAPHEME = regex.compile(r"\X")

# A link candidate: a scheme not glued to a word, an address, or a mention or hashtag (Mastodon does not
# link "x@https://…"), then everything up to a space or a quoting character.
_URL_CANDIDATE = regex.compile(r"(?<![\p{L}\p{N}@$#])https?://[^\s<>\"«»“”]+", regex.IGNORECASE)
# The host must look like a real domain name (labels and an alphabetic top-level label), as Mastodon only
# shortens what it would also turn into a link.
_HOST = regex.compile(
    r"(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?\.)+(?:\p{L}{2,}|xn--[a-z0-9-]+)(?::\d{1,5})?",
    regex.IGNORECASE,
)
# Punctuation that ends a sentence rather than a link ("voir https://pantin.fr.").
_TRAILING = ".,;:!?'’)]}…"
# A mention as Mastodon reads it: a username not glued to a word, a slash or "=", optionally with a domain.
_MENTION = regex.compile(
    r"(?<![=/\w])@(?P<user>[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@\w+(?:[.-]+\w+)*)?",
    regex.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class BlueskyCount:
    """A text's size for Bluesky: both limits apply at once."""

    graphemes: int
    bytes: int


def grapheme_length(text: str) -> int:
    """The number of extended grapheme clusters (what a reader sees as characters)."""
    return len(_GRAPHEME.findall(text))


def bluesky_count(text: str) -> BlueskyCount:
    """The graphemes and UTF-8 bytes of ``text``, the two quantities Bluesky limits."""
    return BlueskyCount(graphemes=grapheme_length(text), bytes=len(text.encode("utf-8")))


def mastodon_count(text: str, *, url_length: int = MASTODON_URL_LENGTH) -> int:
    """The length Mastodon's server computes for ``text`` (links shortened, remote mentions cut)."""
    return grapheme_length(_MENTION.sub(_local_mention, _shorten_links(text, url_length)))


def _shorten_links(text: str, url_length: int) -> str:
    placeholder = "x" * url_length
    parts: list[str] = []
    position = 0
    for match in _URL_CANDIDATE.finditer(text):
        link = _trim_link(match.group())
        if not _is_link(link):
            continue
        parts += [text[position : match.start()], placeholder]
        position = match.start() + len(link)
    parts.append(text[position:])
    return "".join(parts)


def _trim_link(candidate: str) -> str:
    """Drop trailing punctuation, keeping a closing parenthesis that balances one inside the link."""
    while candidate and candidate[-1] in _TRAILING:
        if candidate[-1] == ")" and candidate.count("(") >= candidate.count(")"):
            break
        candidate = candidate[:-1]
    return candidate


def _is_link(candidate: str) -> bool:
    address = candidate.split("://", 1)[1]
    host = regex.split(r"[/?#]", address, maxsplit=1)[0]
    return _HOST.fullmatch(host) is not None


def _local_mention(match: regex.Match[str]) -> str:
    return "@" + str(match.group("user"))
