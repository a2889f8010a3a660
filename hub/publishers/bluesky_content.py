"""What goes into a Bluesky post besides its text: rich-text facets, the link card, images fitted to a size.

Facets are found with the atproto SDK's port of the official client's detection (links, hashtags, mentions,
with UTF-8 byte offsets), imported when a post is first prepared: a process that only publishes prepared posts
does not load the SDK (some 30 MB). Only ``http(s)://`` links and ``#`` tags are kept, since a bare domain or a ``$``
ticker in a town's text is not meant as a link or a tag. A mention becomes a facet only when its handle
resolves to a DID. The link card reads the page's Open Graph tags with the standard HTML parser; any failure
there means "no card", never a failed post.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import aiohttp
from PIL import Image, ImageOps

if TYPE_CHECKING:
    from atproto_client import models

#: The lexicon's limit for an image blob (``app.bsky.embed.images``) and a card thumbnail.
IMAGE_BYTES = 1_000_000
#: How much of a linked page is read looking for its Open Graph tags.
PAGE_BYTES = 1_000_000
#: How large a card image may be before it is re-encoded (anything bigger is not downloaded at all).
CARD_IMAGE_BYTES = 10_000_000
# Bluesky shows images at most this wide or tall; anything bigger only costs bytes.
_MAX_SIDE = 2000
_QUALITIES = (90, 80, 70, 60, 50)
_KEPT_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

Resolve = Callable[[str], Awaitable[str | None]]
"""Resolves a handle to its DID, or ``None`` when it cannot."""


async def facets(text: str, resolve: Resolve) -> list[dict[str, object]]:
    """The facets of ``text`` (links, hashtags, resolvable mentions) as JSON, in text order."""
    from atproto_client import models
    from atproto_client.models.utils import get_model_as_dict
    from atproto_client.utils import detect_mentions

    found = [get_model_as_dict(f) for f in _links_and_tags(text)]
    for mention in detect_mentions(text):
        did = await resolve(mention.handle)
        if did is not None:
            feature = models.AppBskyRichtextFacet.Mention(did=did)
            index = models.AppBskyRichtextFacet.ByteSlice(byte_start=mention.byte_start, byte_end=mention.byte_end)
            found.append(get_model_as_dict(models.AppBskyRichtextFacet.Main(features=[feature], index=index)))
    return sorted(found, key=lambda f: int(f["index"]["byteStart"]))


def first_link(text: str) -> str | None:
    """The first ``http(s)://`` link of ``text``, as its facet has it (trailing punctuation removed)."""
    for facet in _links_and_tags(text):
        uri: str | None = getattr(facet.features[0], "uri", None)
        if uri is not None:
            return uri
    return None


def _links_and_tags(text: str) -> list[models.AppBskyRichtextFacet.Main]:
    from atproto_client.utils import detect_facets

    encoded = text.encode("utf-8")
    return [f for f in detect_facets(text) if _wanted(encoded, f)]


def _wanted(encoded: bytes, facet: models.AppBskyRichtextFacet.Main) -> bool:
    # Only a link written with its scheme and a "#" tag: a bare domain ("hotel.fr") or a "$" ticker in a
    # town's text is not meant as a link or a tag.
    tag: str | None = getattr(facet.features[0], "tag", None)
    if tag is not None:
        return not tag.startswith("$")
    written = encoded[facet.index.byte_start : facet.index.byte_end].lower()
    return written.startswith((b"http://", b"https://"))


# --- images -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FittedImage:
    data: bytes
    mime: str
    width: int
    height: int


async def fit_image(data: bytes, max_bytes: int = IMAGE_BYTES) -> FittedImage:
    """``data`` as is when small enough, else re-encoded as JPEG (then scaled down) until it fits."""
    return await asyncio.to_thread(_fit, data, max_bytes)


def _fit(data: bytes, max_bytes: int) -> FittedImage:
    with Image.open(io.BytesIO(data)) as opened:
        fmt = opened.format or ""
        if len(data) <= max_bytes and fmt in _KEPT_FORMATS:
            width, height = ImageOps.exif_transpose(opened).size
            return FittedImage(data, _KEPT_FORMATS[fmt], width, height)
        image = _flatten(ImageOps.exif_transpose(opened))
    image.thumbnail((_MAX_SIDE, _MAX_SIDE))
    while True:
        for quality in _QUALITIES:
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=quality, optimize=True)
            if out.tell() <= max_bytes:
                return FittedImage(out.getvalue(), "image/jpeg", image.width, image.height)
        if min(image.size) <= 16:
            raise ValueError(f"image cannot fit in {max_bytes} bytes")
        image = image.resize((max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)))


def _flatten(image: Image.Image) -> Image.Image:
    """An RGB copy; transparent areas become white, as JPEG has no alpha."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


_LIMIT = re.compile(r"maximum(?: size)?(?: is| of)?\s*:?\s*([\d.,]+)\s*(kb|mb|b|bytes)?", re.IGNORECASE)


def stated_limit(message: str) -> int | None:
    """The byte limit a ``BlobTooLarge`` message states ("…maximum size is 976.56KB", "…maximum 2000000")."""
    match = _LIMIT.search(message)
    if match is None:
        return None
    number = float(match.group(1).replace(",", ""))
    unit = (match.group(2) or "b").lower()
    factor = {"kb": 1024, "mb": 1024 * 1024}.get(unit, 1)
    return int(number * factor)


# --- link card ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Card:
    """What a page says about itself: the fields of ``app.bsky.embed.external`` and its image's address."""

    uri: str
    title: str
    description: str
    image_url: str | None


class _OpenGraph(HTMLParser):
    """Collects ``og:*`` meta tags, with ``<title>`` and ``description`` as fallbacks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta":
            name = (values.get("property") or values.get("name") or "").lower()
            if name and name not in self.meta:
                self.meta[name] = values.get("content", "").strip()
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


async def read_card(http: aiohttp.ClientSession, url: str) -> Card | None:
    """The Open Graph card of ``url``, or ``None`` if the page cannot be read or says nothing.

    The caller bounds the time (``asyncio.timeout``); the size read is bounded here.
    """
    try:
        html = await _read_text(http, url)
    except (aiohttp.ClientError, UnicodeError, ValueError):
        return None
    if html is None:
        return None
    parser = _OpenGraph()
    parser.feed(html)
    parser.close()
    meta = parser.meta
    title = meta.get("og:title") or parser.title.strip()
    description = meta.get("og:description") or meta.get("description", "")
    if not title and not description:
        return None
    image = meta.get("og:image") or meta.get("og:image:url")
    return Card(url, title[:300], description[:1000], urljoin(url, image) if image else None)


async def read_image(http: aiohttp.ClientSession, url: str) -> bytes | None:
    """A card's image, or ``None`` if it cannot be downloaded within the size cap (time: see :func:`read_card`)."""
    try:
        async with http.get(url) as response:
            if response.status != 200:
                return None
            return await _read_capped(response, CARD_IMAGE_BYTES)
    except (aiohttp.ClientError, ValueError):
        return None


async def _read_text(http: aiohttp.ClientSession, url: str) -> str | None:
    async with http.get(url) as response:
        if response.status != 200 or "html" not in response.content_type:
            return None
        # A page longer than the cap is cut: the Open Graph tags are in its head.
        data = await _read_capped(response, PAGE_BYTES, cut=True)
        return None if data is None else data.decode(response.charset or "utf-8", errors="replace")


async def _read_capped(response: aiohttp.ClientResponse, cap: int, *, cut: bool = False) -> bytes | None:
    """At most ``cap`` bytes of the body; ``None`` if it is longer, unless ``cut`` (then its first ``cap``)."""
    data = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > cap:
            return bytes(data[:cap]) if cut else None
    return bytes(data)
