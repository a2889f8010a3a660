"""Reading an image someone posted in the room, decrypted if the room is.

The coordinator attaches an image to an announcement by answering the image's message with ``!image N
<texte alternatif>`` (the handler gets the bytes from :func:`replied_image`), or by posting the image in reply
to the announcement's card (:mod:`bot.images` reads it with :func:`image_bytes`); the hub checks the bytes.
Failures the person can fix are :class:`InvalidInput` errors with a message saying what to do.

Files (``m.file``) are read the same way, up to a size the caller sets: a coordinator posts a list of towns and
answers it with ``!villes importer``, or posts it in answer to that command (:mod:`bot.imports`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nio import (
    AsyncClient,
    DownloadError,
    EncryptionError,
    Event,
    MegolmEvent,
    RoomEncryptedFile,
    RoomEncryptedImage,
    RoomGetEventResponse,
    RoomMessageFile,
    RoomMessageImage,
    RoomMessageNotice,
    RoomMessageText,
)
from nio.crypto import decrypt_attachment

from bot.context import PostedFile, TextMessage
from hub.errors import InvalidInput
from hub.media import MAX_BYTES

_MEGABYTE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Keys:
    """The messages for an attachment the bot cannot fetch or decrypt."""

    missing: str
    unreadable: str


_IMAGE = _Keys("bot.announce.image.missing", "bot.announce.image.unreadable")
_FILE = _Keys("bot.file.missing", "bot.file.unreadable")


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
        return _decrypted(data, image, _IMAGE)
    return data


async def replied_file(client: AsyncClient, room_id: str, event_id: str, max_bytes: int) -> PostedFile | None:
    """The file that message ``event_id`` replies to (at most ``max_bytes``); None if it replies to nothing."""
    command = await _event(client, room_id, event_id, _FILE)
    target = replied_to(command.source.get("content", {}))
    if not target:
        return None
    posted = await _event(client, room_id, target, _FILE)
    if not isinstance(posted, RoomMessageFile | RoomEncryptedFile):
        raise InvalidInput("bot.file.not_file")
    return await file_of(client, posted, max_bytes)


async def file_of(client: AsyncClient, posted: RoomMessageFile | RoomEncryptedFile, max_bytes: int) -> PostedFile:
    """The name, type and bytes of a file posted in a room, decrypted if it was sent encrypted.

    A file over ``max_bytes`` is refused, before downloading when its message states its size.
    """
    content = posted.source.get("content", {})
    info = content.get("info") or {}
    # Since Matrix 1.10 the name is in ``filename`` and ``body`` may be a caption; older clients put it in body.
    name = str(content.get("filename") or posted.body or "")
    mimetype = str(info.get("mimetype") or getattr(posted, "mimetype", None) or "")
    size = info.get("size")
    if isinstance(size, int) and size > max_bytes:
        raise _too_big(name, size, max_bytes)
    data = await _download(client, posted.url, _FILE)
    if len(data) > max_bytes:
        raise _too_big(name, len(data), max_bytes)
    if isinstance(posted, RoomEncryptedFile):
        data = _decrypted(data, posted, _FILE)
    return PostedFile(name, data, mimetype)


async def read_message(client: AsyncClient, room_id: str, event_id: str) -> TextMessage | None:
    """Message ``event_id`` if it is text (or a notice), decrypted; None for anything else or if unreadable."""
    try:
        event = await _event(client, room_id, event_id, _FILE)
    except InvalidInput:
        return None
    if not isinstance(event, RoomMessageText | RoomMessageNotice):
        return None
    content = event.source.get("content", {})
    notice = isinstance(event, RoomMessageNotice)
    return TextMessage(str(event.sender), str(event.body), replied_to(content), notice=notice)


def _too_big(name: str, size: int, max_bytes: int) -> InvalidInput:
    # Rounded up: a file of 5.2 MB must not read as "5 MB, at most 5 MB".
    return InvalidInput("bot.file.too_big", file=name, size=math.ceil(size / _MEGABYTE), max=max_bytes // _MEGABYTE)


def _decrypted(data: bytes, posted: RoomEncryptedImage | RoomEncryptedFile, keys: _Keys) -> bytes:
    try:
        return bytes(decrypt_attachment(data, posted.key["k"], posted.hashes["sha256"], posted.iv))
    except (KeyError, ValueError, EncryptionError) as problem:
        raise InvalidInput(keys.unreadable) from problem


async def _event(client: AsyncClient, room_id: str, event_id: str, keys: _Keys = _IMAGE) -> Event:
    response = await client.room_get_event(room_id, event_id)
    if not isinstance(response, RoomGetEventResponse):
        raise InvalidInput(keys.missing)
    event = response.event
    if isinstance(event, MegolmEvent):
        try:
            decrypted = client.decrypt_event(event)
        except EncryptionError as problem:
            raise InvalidInput(keys.unreadable) from problem
        if not isinstance(decrypted, Event) or isinstance(decrypted, MegolmEvent):
            raise InvalidInput(keys.unreadable)
        return decrypted
    return event


async def _download(client: AsyncClient, url: str, keys: _Keys = _IMAGE) -> bytes:
    response = await client.download(url)
    if isinstance(response, DownloadError) or not isinstance(response.body, bytes):
        raise InvalidInput(keys.missing)
    return response.body
