"""What every service needs: the store, the secret box, the settings, a clock; and the acting person."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from hub.crypto import SecretBox, load_or_create_key_file, parse_keys
from hub.domain.model import Platform
from hub.domain.permissions import Actor
from hub.settings import Settings
from hub.store import Store, UnitOfWork

if TYPE_CHECKING:
    from hub.publishers.base import Publisher
    from hub.services.accounts import AccountService
    from hub.services.announcements import AnnouncementService
    from hub.services.answers import AnswerService
    from hub.services.audit import AuditService
    from hub.services.campaign_pages import CampaignPages
    from hub.services.coalitions import CoalitionService
    from hub.services.dispatch import DispatchService
    from hub.services.links import LinkService
    from hub.services.preferences import PreferenceService
    from hub.services.towns import TownService

#: The CLI acts as the operator of the deployment, who has every right.
OPERATOR = "operator:cli"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Hub:
    """The hub's entry point: holds shared resources and hands out the services."""

    store: Store
    box: SecretBox
    settings: Settings
    clock: Callable[[], datetime] = field(default=utc_now)
    #: One publisher per network; built from the settings on first use unless given (tests, benchmarks).
    publishers: Mapping[Platform, Publisher] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        raw = settings.encryption_keys.get_secret_value()
        keys = parse_keys(raw) if raw else load_or_create_key_file(settings.key_file)
        if settings.database_url is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(Store.from_url(settings.resolved_database_url), SecretBox(keys), settings)

    async def actor(self, uow: UnitOfWork, user_id: str) -> Actor:
        """The roles ``user_id`` holds, read in the caller's transaction."""
        if user_id == OPERATOR:
            return Actor(user_id, True, frozenset(), frozenset())
        grants = [(g.role, g.coalition_id, g.town_id) for g in await uow.roles.of_user(user_id)]
        return Actor.build(user_id, self.settings.admins, grants)

    async def whois(self, user_id: str) -> Actor:
        """The roles ``user_id`` holds (for a front end that adapts what it shows)."""
        async with self.store.unit() as uow:
            return await self.actor(uow, user_id)

    @cached_property
    def coalitions(self) -> CoalitionService:
        from hub.services.coalitions import CoalitionService

        return CoalitionService(self)

    @cached_property
    def towns(self) -> TownService:
        from hub.services.towns import TownService

        return TownService(self)

    @cached_property
    def accounts(self) -> AccountService:
        from hub.services.accounts import AccountService

        return AccountService(self)

    @cached_property
    def announcements(self) -> AnnouncementService:
        from hub.services.announcements import AnnouncementService

        return AnnouncementService(self)

    @cached_property
    def dispatch(self) -> DispatchService:
        from hub.services.dispatch import DispatchService

        return DispatchService(self)

    @cached_property
    def audit(self) -> AuditService:
        from hub.services.audit import AuditService

        return AuditService(self)

    @cached_property
    def answers(self) -> AnswerService:
        from hub.services.answers import AnswerService

        return AnswerService(self)

    @cached_property
    def preferences(self) -> PreferenceService:
        from hub.services.preferences import PreferenceService

        return PreferenceService(self)

    @cached_property
    def links(self) -> LinkService:
        from hub.services.links import LinkService

        return LinkService(self)

    @cached_property
    def pages(self) -> CampaignPages:
        from hub.services.campaign_pages import CampaignPages

        return CampaignPages(self)

    async def seen(self, event_id: str) -> bool:
        """Whether an inbound event id was already handled (recorded by :meth:`first_time`)."""
        async with self.store.unit() as uow:
            return await uow.events.seen(event_id)

    async def first_time(self, event_id: str) -> bool:
        """True the first time an inbound event id is seen; a replayed event is never acted on twice."""
        async with self.store.unit() as uow:
            return await uow.events.first_time(event_id)

    def publisher(self, platform: Platform) -> Publisher:
        if self.publishers is None:
            from hub.publishers.gateway import StoreGateway
            from hub.publishers.registry import build_publishers

            self.publishers = build_publishers(StoreGateway(self), self.settings)
        return self.publishers[platform]

    async def close(self) -> None:
        for publisher in (self.publishers or {}).values():
            await publisher.close()
        await self.store.close()
