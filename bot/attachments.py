"""Reading an image someone posted in the room: the one a command replies to, decrypted if the room is.

The coordinator attaches an image to an announcement by answering the image's message with ``!image N
<texte alternatif>``; the handler gets the bytes from :func:`replied_image` and hands them to the hub, which
checks them. Failures the person can fix are :class:`InvalidInput` errors with a message saying what to do.
"""

from __future__ import annotations

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
    target = command.source.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
    if not target:
        raise InvalidInput("bot.announce.image.no_reply")
    image = await _event(client, room_id, str(target))
    if not isinstance(image, RoomMessageImage | RoomEncryptedImage):
        raise InvalidInput("bot.announce.image.not_image")
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
