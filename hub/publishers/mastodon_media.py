"""A post's images on a Mastodon-API server: uploaded one after the other, each waited for until processed.

Mastodon answers a still image at once (200, with its ``url``) and a video, audio or GIF later (202, ``url``
null, then ``GET /api/v1/media/:id`` 206 until done); a post naming media still processing is refused. The pre-flight
uploads ahead (:meth:`MastodonPublisher.prepare`) and the post reuses the ids.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import aiohttp

from hub.domain.model import Account
from hub.publishers.base import PostImage, PostJob
from hub.publishers.mastodon_answers import Answer, answer_object
from hub.publishers.mastodon_errors import transient

#: Polling of media still processing: first delay, growth and cap (seconds).
POLL_FIRST, POLL_GROWTH, POLL_CAP = 0.25, 2.0, 5.0


class Server(Protocol):
    """What uploads need of :class:`~hub.publishers.mastodon.MastodonPublisher`."""

    media_timeout: float

    async def request(self, account: Account, method: str, path: str, token: str | None, **options: Any) -> Answer: ...


class Media:
    """Uploads the images of posts through ``server``."""

    def __init__(self, server: Server) -> None:
        self.server = server

    async def ids(self, job: PostJob, token: str) -> list[str]:
        """The ids the pre-flight gave (:attr:`PostJob.prepared`), else the images uploaded now."""
        prepared = (job.prepared or {}).get("media_ids")
        if isinstance(prepared, list) and len(prepared) == len(job.images):
            return [str(media_id) for media_id in prepared]
        return await self.upload_all(job, token)

    async def upload_all(self, job: PostJob, token: str) -> list[str]:
        # One after the other: Mastodon allows only 30 uploads per 30 minutes, nothing is gained in parallel.
        return [await self._upload(job.account, token, image) for image in job.images]

    async def _upload(self, account: Account, token: str, image: PostImage) -> str:
        form = aiohttp.FormData()
        extension = image.mime.split("/")[-1]
        form.add_field("file", image.data, filename=f"image.{extension}", content_type=image.mime)
        form.add_field("description", image.alt)
        answer = await self.server.request(
            account, "POST", "/api/v2/media", token, kind="media", data=form, time_limit=self.server.media_timeout
        )
        media = answer_object(answer, account, "id")
        if answer.status == 202 or media.get("url") is None:
            await self._wait_processed(account, token, str(media["id"]))
        return str(media["id"])

    async def _wait_processed(self, account: Account, token: str, media_id: str) -> None:
        """Polls a media still processing (206) until it has a URL, with a growing delay, within a bound."""
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.server.media_timeout, POLL_FIRST
        while loop.time() + delay <= deadline:
            await asyncio.sleep(delay)
            answer = await self.server.request(account, "GET", f"/api/v1/media/{media_id}", token)
            if answer.status == 200 and answer_object(answer, account).get("url") is not None:
                return
            delay = min(delay * POLL_GROWTH, POLL_CAP)
        seconds = round(self.server.media_timeout)
        raise transient("publish.mastodon.media_processing", account, seconds=seconds)
