"""Images, stored once by their SHA-256."""

from __future__ import annotations

import sqlalchemy as sa

from hub.domain.model import ImageRef
from hub.store.models import MediaRow
from hub.store.repositories.base import Repository


class MediaRepository(Repository):
    async def put(self, image: ImageRef, data: bytes) -> None:
        if await self.session.get(MediaRow, image.sha256) is None:
            self.session.add(
                MediaRow(
                    sha256=image.sha256,
                    mime=image.mime,
                    width=image.width,
                    height=image.height,
                    size=image.size,
                    data=data,
                )
            )
            await self.session.flush()

    async def data(self, sha256: str) -> bytes | None:
        row = await self.session.get(MediaRow, sha256)
        return row.data if row else None

    async def ref(self, sha256: str, alt: str) -> ImageRef | None:
        """The stored image ``sha256`` described by ``alt``, without reading its bytes."""
        query = sa.select(MediaRow.mime, MediaRow.width, MediaRow.height, MediaRow.size).where(
            MediaRow.sha256 == sha256
        )
        found = (await self.session.execute(query)).first()
        if found is None:
            return None
        mime, width, height, size = found
        return ImageRef(sha256, alt, mime, width, height, size)
