"""Turns a claimed delivery into the publisher's job: the account, the frozen text, the images' bytes.

Accounts, announcements and images are read once per batch, not once per delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from hub.crypto import SecretBox
from hub.dispatch.gateway import BatchingGateway
from hub.domain.model import Account, Announcement, DeliveryKind
from hub.errors import NotFound
from hub.publishers.base import PostImage, PostJob
from hub.store import Store, UnitOfWork
from hub.store.outbox import Claimed
from hub.store.repositories.accounts import EncryptedSecrets


@dataclass(frozen=True, slots=True)
class Frozen:
    """What every delivery of one announcement shares."""

    coalition_id: int
    language: str
    publish_at: datetime | None
    images: tuple[PostImage, ...]
    #: Its own choice about pre-staging Mastodon posts (None: the deployment's).
    prestage: bool | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One claimed delivery ready to be tried: the claim, the publisher's job, what its announcement shares."""

    claimed: Claimed
    job: PostJob
    announcement: Frozen


class JobFactory:
    def __init__(self, store: Store, box: SecretBox | None = None, gateway: BatchingGateway | None = None) -> None:
        self.store = store
        #: With both, the batch's secrets and sessions are read and decrypted at once and handed to the gateway.
        self.box = box
        self.gateway = gateway
        self._announcements: dict[tuple[int, int], Frozen] = {}

    async def attempts(
        self, claimed: Sequence[Claimed], uow: UnitOfWork | None = None
    ) -> tuple[list[Attempt], list[Claimed]]:
        """The attempts for ``claimed``, read in ``uow`` (the claim's own, at the instant) or in a unit of their
        own; the second list holds deliveries whose account is gone."""
        if uow is None:
            async with self.store.unit() as own:
                return await self.attempts(claimed, own)
        posting = await uow.accounts.for_posting({c.delivery.account_id for c in claimed if c.delivery.account_id})
        accounts = {account_id: account for account_id, (account, _) in posting.items()}
        if self.box is not None and self.gateway is not None:
            for _, stored in posting.values():
                self.gateway.prime(stored.account_id, *_openers(self.box, stored))
        for c in claimed:
            key = (c.delivery.announcement_id, c.version_number)
            if key not in self._announcements:
                announcement = await uow.announcements.get(c.delivery.announcement_id)
                if announcement is None:
                    raise NotFound("error.announcement.unknown", id=str(c.delivery.announcement_id))
                self._announcements[key] = await self._freeze(uow, announcement, c.version_number)
        attempts: list[Attempt] = []
        orphans: list[Claimed] = []
        for c in claimed:
            account = accounts.get(c.delivery.account_id or 0)
            if account is None:
                orphans.append(c)
                continue
            frozen = self._announcements[(c.delivery.announcement_id, c.version_number)]
            attempts.append(Attempt(c, _job(c, account, frozen), frozen))
        return attempts, orphans

    async def _freeze(self, uow: UnitOfWork, announcement: Announcement, number: int) -> Frozen:
        versions = {v.number: v for v in await uow.announcements.versions(announcement.id)}
        version = versions.get(number)
        images: list[PostImage] = []
        for ref in version.wording.images if version else ():
            data = await uow.media.data(ref.sha256)
            if data is not None:
                images.append(PostImage(data, ref.mime, ref.alt, ref.width, ref.height))
        return Frozen(
            announcement.coalition_id,
            announcement.language,
            announcement.publish_at,
            tuple(images),
            announcement.prestage,
        )


def _openers(box: SecretBox, stored: EncryptedSecrets) -> tuple[Callable[[], str], Callable[[], str | None]]:
    """Decrypt the secret and the session when first asked for (most posts need only one of them)."""
    sealed_session = stored.session
    return partial(box.decrypt, stored.secret), (partial(box.decrypt, sealed_session) if sealed_session else _none)


def _none() -> None:
    return None


def _job(claimed: Claimed, account: Account, frozen: Frozen) -> PostJob:
    delivery = claimed.delivery
    return PostJob(
        delivery_id=delivery.id,
        account=account,
        text=delivery.text,
        language=frozen.language,
        idempotency_key=delivery.idempotency_key,
        images=() if delivery.parent_id else frozen.images,  # the images go with the post, not its follow-up
        remote_key=claimed.remote_key,
        prepared=claimed.prepared,
        first_attempt=claimed.first_attempt,
        reply_to=claimed.parent_remote_id if delivery.kind is DeliveryKind.FOLLOWUP else None,
        pin_of=claimed.parent_remote_id if delivery.kind is DeliveryKind.PIN else None,
        schedule=claimed.schedule,
    )
