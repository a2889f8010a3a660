"""Reading an image someone posted in the room, decrypted if the room is.

The coordinator attaches an image to an announcement by answering the image's message with ``!image N
<texte alternatif>`` (the handler gets the bytes from :func:`replied_image`), or by posting the image in reply
to the announcement's card (:mod:`bot.images` reads it with :func:`image_bytes`); the hub checks the bytes.
Failures the person can fix are :class:`InvalidInput` errors with a message saying what to do.
"""

from __future__ import annotations

from typing import Any

from nio import (
    AsyncClient,
    DownloadError,
    EncryptionError,
    Event,
    MegolmEvent,
    RoomEncryptedImage,
    RoomGetEventResponse,
    RoomMessageImage,
)
from nio.crypto import decrypt_attachment

from hub.errors import InvalidInput
from hub.media import MAX_BYTES


async def replied_image(client: AsyncClient, room_id: str, event_id: str) -> bytes:
    """The bytes of the image that message ``event_id`` replies to."""
    command = await _event(client, room_id, event_id)
    target = replied_to(command.source.get("content", {}))
    if not target:
        raise InvalidInput("bot.announce.image.no_reply")
    image = await _event(client, room_id, target)
    if not isinstance(image, RoomMessageImage | RoomEncryptedImage):
        raise InvalidInput("bot.announce.image.not_image")
    return await image_bytes(client, image)


def replied_to(content: dict[str, Any]) -> str | None:
    """The event a message answers: the one it replies to, else the root of the thread it is posted in.

    In a thread, clients add a reply to the thread's latest event only as a fallback for older clients
    (``is_falling_back``): the message then answers the thread's root.
    """
    relation = content.get("m.relates_to") or {}
    target = (relation.get("m.in_reply_to") or {}).get("event_id")
    if relation.get("rel_type") == "m.thread" and (relation.get("is_falling_back") or not target):
        target = relation.get("event_id")
    return str(target) if target else None


async def image_bytes(client: AsyncClient, image: RoomMessageImage | RoomEncryptedImage) -> bytes:
    """The bytes of an image posted in a room, decrypted if it was sent encrypted."""
    size = image.source.get("content", {}).get("info", {}).get("size")
    if isinstance(size, int) and size > MAX_BYTES:
        # Refused before downloading: the hub would refuse it anyway, and it need not sit in memory.
        raise InvalidInput("error.image.too_big", size=size // (1024 * 1024), max=MAX_BYTES // (1024 * 1024))
    data = await _download(client, image.url)
    if isinstance(image, RoomEncryptedImage):
        try:
            return bytes(decrypt_attachment(data, image.key["k"], image.hashes["sha256"], image.iv))
        except (KeyError, ValueError, EncryptionError) as problem:
            raise InvalidInput("bot.announce.image.unreadable") from problem
    return data


async def _event(client: AsyncClient, room_id: str, event_id: str) -> Event:
    response = await client.room_get_event(room_id, event_id)
    if not isinstance(response, RoomGetEventResponse):
        raise InvalidInput("bot.announce.image.missing")
    event = response.event
    if isinstance(event, MegolmEvent):
        try:
            decrypted = client.decrypt_event(event)
        except EncryptionError as problem:
            raise InvalidInput("bot.announce.image.unreadable") from problem
        if not isinstance(decrypted, Event) or isinstance(decrypted, MegolmEvent):
            raise InvalidInput("bot.announce.image.unreadable")
        return decrypted
    return event


async def _download(client: AsyncClient, url: str) -> bytes:
    response = await client.download(url)
    if isinstance(response, DownloadError) or not isinstance(response.body, bytes):
        raise InvalidInput("bot.announce.image.missing")
    return response.body
