"""Images attached to announcements: checked on arrival with Pillow, stored by content hash."""

from __future__ import annotations

import hashlib
import io

from PIL import Image, UnidentifiedImageError

from hub.domain.model import ImageRef
from hub.errors import InvalidInput

#: Formats both networks accept; anything else is refused on arrival rather than at publication.
ACCEPTED = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
#: What we accept from a person; publishers re-encode to each server's own limit.
MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000


def inspect_image(data: bytes, alt: str) -> ImageRef:
    """Reads an image's format and size; refuses what is not an image we can post."""
    if len(data) > MAX_BYTES:
        raise InvalidInput("error.image.too_big", size=len(data) // (1024 * 1024), max=MAX_BYTES // (1024 * 1024))
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            fmt, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput("error.image.unreadable") from exc
    if fmt not in ACCEPTED:
        raise InvalidInput("error.image.format", format=str(fmt), accepted=", ".join(ACCEPTED))
    if width * height > MAX_PIXELS:
        raise InvalidInput("error.image.too_many_pixels", width=width, height=height)
    return ImageRef(hashlib.sha256(data).hexdigest(), alt, ACCEPTED[fmt], width, height, len(data))
