"""An announcement's images: attached to its wording (each change is a new version), or held, posted but
waiting for their alt text, until a coordinator gives it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from hub.domain.model import Announcement, AnnouncementMessage
from hub.domain.wording import check_alt, current_wording
from hub.errors import InvalidInput, NotFound
from hub.media import inspect_image
from hub.services.context import ServiceContext
from hub.services.editing import NewVersion, editable, get_announcement, save_version
from hub.store import UnitOfWork

MAX_IMAGES = 4
#: Purpose of a front end's message carrying an image that waits for its alt text.
HELD_IMAGE = "held_image"


@dataclass(frozen=True, slots=True)
class HeldImage:
    """An image posted for an announcement and kept until its alt text is given."""

    message: AnnouncementMessage
    #: The number it will have among the announcement's images once attached (after the attached ones).
    position: int

    @property
    def sha256(self) -> str:
        return self.message.media or ""


class ImageService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def add_image(self, actor_id: str, announcement_id: int, data: bytes, alt: str) -> NewVersion:
        """Attaches an image; alt text is mandatory (what a screen reader says).

        The same image held for its alt text (:meth:`hold_image`) is held no longer.
        """
        alt = check_alt(alt)
        image = inspect_image(data, alt)
        async with self.context.store.unit() as uow:
            announcement = await editable(self.context, uow, actor_id, announcement_id)
            wording = current_wording(announcement)
            if len(wording.images) >= MAX_IMAGES:
                raise InvalidInput("error.image.too_many", max=MAX_IMAGES)
            await uow.messages.remove_media(announcement.id, HELD_IMAGE, image.sha256)
            changed = replace(wording, images=(*wording.images, image))
            return await save_version(uow, actor_id, announcement, changed, media=(image, data))

    async def set_alt(self, actor_id: str, announcement_id: int, position: int, alt: str) -> NewVersion:
        """Changes the alt text of image number ``position`` (counted from 1).

        A position after the attached images names an image held for its alt text: it is attached with it.
        """
        alt = check_alt(alt)
        async with self.context.store.unit() as uow:
            announcement = await editable(self.context, uow, actor_id, announcement_id)
            wording = current_wording(announcement)
            images = list(wording.images)
            if 1 <= position <= len(images):
                images[position - 1] = replace(images[position - 1], alt=alt)
            else:
                held = await self._held_at(uow, announcement, position)
                image = await uow.media.ref(held.sha256, alt)
                if image is None:
                    raise NotFound("error.image.held_lost", position=position)
                if len(images) >= MAX_IMAGES:
                    raise InvalidInput("error.image.too_many", max=MAX_IMAGES)
                images.append(image)
                await uow.messages.remove(held.message.message_id, HELD_IMAGE)
            return await save_version(uow, actor_id, announcement, replace(wording, images=tuple(images)))

    async def remove_image(self, actor_id: str, announcement_id: int, position: int) -> NewVersion | HeldImage:
        """Removes image number ``position``: a new version, or, for an image held for its alt text, that
        image dropped (the wording is unchanged, so there is no new version)."""
        async with self.context.store.unit() as uow:
            announcement = await editable(self.context, uow, actor_id, announcement_id)
            wording = current_wording(announcement)
            if not 1 <= position <= len(wording.images):
                held = await self._held_at(uow, announcement, position)
                await uow.messages.remove(held.message.message_id, HELD_IMAGE)
                return held
            changed = replace(wording, images=wording.images[: position - 1] + wording.images[position:])
            return await save_version(uow, actor_id, announcement, changed)

    # --- images waiting for their alt text ----------------------------------------------------------------

    async def hold_image(
        self, actor_id: str, announcement_id: int, channel: str, message_id: str, data: bytes
    ) -> HeldImage:
        """Keeps an image posted for the announcement until its alt text is given (:meth:`set_alt` at the
        position returned). The image is checked and stored at once; it is not part of the wording yet."""
        image = inspect_image(data, "")
        async with self.context.store.unit() as uow:
            announcement = await editable(self.context, uow, actor_id, announcement_id)
            held = await self._held(uow, announcement)
            if (same := next((h for h in held if h.message.message_id == message_id), None)) is not None:
                return same
            if len(current_wording(announcement).images) + len(held) >= MAX_IMAGES:
                raise InvalidInput("error.image.too_many", max=MAX_IMAGES)
            await uow.media.put(image, data)
            message = AnnouncementMessage(
                announcement.id, channel, message_id, HELD_IMAGE, actor_id, media=image.sha256
            )
            await uow.messages.add(message)
            return HeldImage(message, len(current_wording(announcement).images) + len(held) + 1)

    async def held_images(self, announcement_id: int) -> list[HeldImage]:
        """The announcement's images waiting for their alt text, with the position each will take."""
        async with self.context.store.unit() as uow:
            return await self._held(uow, await get_announcement(uow, announcement_id))

    async def _held(self, uow: UnitOfWork, announcement: Announcement) -> list[HeldImage]:
        """The images waiting for their alt text, numbered after the attached ones in the order they came."""
        attached = len(current_wording(announcement).images)
        messages = await uow.messages.of(announcement.id, HELD_IMAGE)
        return [HeldImage(m, attached + i) for i, m in enumerate(messages, start=1)]

    async def _held_at(self, uow: UnitOfWork, announcement: Announcement, position: int) -> HeldImage:
        held = await self._held(uow, announcement)
        found = next((h for h in held if h.position == position), None)
        if found is None:
            attached = len(current_wording(announcement).images)
            if held:
                raise InvalidInput(
                    "error.image.position_held", position=position, count=attached + len(held), held=len(held)
                )
            raise InvalidInput("error.image.position", position=position, count=attached)
        return found
