"""Coordinators' links to an announcement's status page, and the opening of its public page early.

A link carries a random token (``secrets.token_urlsafe(32)``, 256 bits); only its SHA-256 is stored, so a copy
of the database opens nothing. A new link revokes the earlier ones of the same announcement, and every link
expires after ``UNISSON_STATUS_LINK_DAYS``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.domain import permissions
from hub.domain.model import Announcement
from hub.errors import NotFound
from hub.services.coalitions import get_coalition
from hub.services.context import ServiceContext
from hub.store import UnitOfWork
from hub.urls import public_path, status_path


@dataclass(frozen=True, slots=True)
class IssuedLink:
    """A new status link: the token is shown once, to the coordinator who asked for it."""

    token: str
    path: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class StatusTarget:
    """What a valid token opens."""

    announcement_id: int
    coalition_id: int
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class LinkService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def issue(self, user_id: str, coalition_id: int, number: int) -> IssuedLink:
        """A new link to the status page of announcement ``number``; every earlier link of it stops working."""
        token = secrets.token_urlsafe(32)
        now = self.context.clock()
        expires_at = now + timedelta(days=self.context.settings.status_link_days)
        async with self.context.store.unit() as uow:
            announcement = await self._coordinated(uow, user_id, coalition_id, number)
            revoked = await uow.links.revoke_all(announcement.id, now)
            await uow.links.add(token_hash(token), announcement.id, user_id, now, expires_at)
            details = {"revoked": revoked, "expires_at": expires_at.isoformat()}
            await uow.audit.append(
                user_id, "link.issue", coalition_id=coalition_id, announcement_id=announcement.id, details=details
            )
        return IssuedLink(token, status_path(token), expires_at)

    async def resolve(self, token: str) -> StatusTarget | None:
        """The announcement ``token`` opens; None for an unknown, revoked or expired token."""
        wanted = token_hash(token)
        async with self.context.store.unit() as uow:
            link = await uow.links.by_hash(wanted)
            if link is None or not hmac.compare_digest(link.token_hash, wanted):
                return None
            if link.revoked_at is not None or link.expires_at <= self.context.clock():
                return None
            announcement = await uow.announcements.get(link.announcement_id)
        if announcement is None:
            return None
        return StatusTarget(announcement.id, announcement.coalition_id, link.expires_at)

    async def open_public(self, user_id: str, coalition_id: int, number: int) -> str:
        """Opens the public page of announcement ``number`` before its publication (idempotent); its path."""
        async with self.context.store.unit() as uow:
            announcement = await self._coordinated(uow, user_id, coalition_id, number)
            if await uow.links.public_since(announcement.id) is None:
                await uow.links.open_public(announcement.id, self.context.clock())
                await uow.audit.append(
                    user_id, "announcement.open_public", coalition_id=coalition_id, announcement_id=announcement.id
                )
        return public_path(coalition_id, announcement.id)

    async def _coordinated(self, uow: UnitOfWork, user_id: str, coalition_id: int, number: int) -> Announcement:
        coalition = await get_coalition(uow, coalition_id)
        permissions.require_coordinator(await self.context.actor(uow, user_id), coalition.id, coalition.name)
        announcement = await uow.announcements.get(number)
        if announcement is None or announcement.coalition_id != coalition.id:
            raise NotFound("error.announcement.unknown", id=str(number))
        return announcement
