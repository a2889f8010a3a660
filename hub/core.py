"""The hub assembled: the shared resources of :class:`hub.services.context.ServiceContext` and one instance of
each service, built on first use. Front ends (the bot, the CLI, the web app) and the dispatcher start here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from hub.crypto import SecretBox, load_or_create_key_file, parse_keys
from hub.dispatch.gateway import StoreGateway
from hub.domain.model import Platform
from hub.domain.permissions import Actor
from hub.publishers import registry
from hub.publishers.base import Publisher
from hub.services.accounts import AccountService
from hub.services.announcements import AnnouncementService
from hub.services.answers import AnswerService
from hub.services.audit import AuditService
from hub.services.campaign_pages import CampaignPages
from hub.services.coalition_accounts import CoalitionAccountService
from hub.services.coalitions import CoalitionService
from hub.services.context import OPERATOR, ServiceContext
from hub.services.dispatch import DispatchService
from hub.services.images import ImageService
from hub.services.linking import MastodonLinking
from hub.services.links import LinkService
from hub.services.preferences import PreferenceService
from hub.services.quorum import QuorumService
from hub.services.reach import ReachService
from hub.services.reposts import RepostService
from hub.services.starter_packs import StarterPacks
from hub.services.thread_rules import ThreadRuleService
from hub.services.towns import TownService
from hub.settings import Settings
from hub.store import Store, utc_now

__all__ = ["OPERATOR", "Hub", "utc_now"]


@dataclass
class Hub(ServiceContext):
    """The hub's entry point: holds shared resources and hands out the services."""

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], datetime] = utc_now) -> Hub:
        raw = settings.encryption_keys.get_secret_value()
        keys = parse_keys(raw) if raw else load_or_create_key_file(settings.key_file)
        if settings.database_url is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store.from_url(settings.resolved_database_url, clock)
        return cls(store, SecretBox(keys), settings, clock=clock)

    async def whois(self, user_id: str) -> Actor:
        """The roles ``user_id`` holds (for a front end that adapts what it shows)."""
        async with self.store.unit() as uow:
            return await self.actor(uow, user_id)

    @cached_property
    def coalitions(self) -> CoalitionService:
        return CoalitionService(self)

    @cached_property
    def towns(self) -> TownService:
        return TownService(self)

    @cached_property
    def accounts(self) -> AccountService:
        return AccountService(self)

    @cached_property
    def linking(self) -> MastodonLinking:
        return MastodonLinking(self, self.accounts)

    @cached_property
    def coalition_accounts(self) -> CoalitionAccountService:
        return CoalitionAccountService(self)

    @cached_property
    def images(self) -> ImageService:
        return ImageService(self)

    @cached_property
    def announcements(self) -> AnnouncementService:
        return AnnouncementService(self, self.images)

    @cached_property
    def dispatch(self) -> DispatchService:
        return DispatchService(self)

    @cached_property
    def quorum(self) -> QuorumService:
        return QuorumService(self)

    @cached_property
    def audit(self) -> AuditService:
        return AuditService(self)

    @cached_property
    def answers(self) -> AnswerService:
        return AnswerService(self)

    @cached_property
    def links(self) -> LinkService:
        return LinkService(self)

    @cached_property
    def pages(self) -> CampaignPages:
        return CampaignPages(self)

    @cached_property
    def starter_packs(self) -> StarterPacks:
        return StarterPacks(self, self.coalition_accounts)

    @cached_property
    def reposts(self) -> RepostService:
        return RepostService(self, self.coalition_accounts)

    @cached_property
    def reach(self) -> ReachService:
        return ReachService(self)

    @cached_property
    def preferences(self) -> PreferenceService:
        return PreferenceService(self)

    @cached_property
    def threads(self) -> ThreadRuleService:
        """Campaign rules about each town's post (its follow-up in thread)."""
        return ThreadRuleService(self)

    async def seen(self, event_id: str) -> bool:
        """Whether an inbound event id was already handled (recorded by :meth:`first_time`)."""
        async with self.store.unit() as uow:
            return await uow.events.seen(event_id)

    async def first_time(self, event_id: str) -> bool:
        """True the first time an inbound event id is seen; a replayed event is never acted on twice."""
        async with self.store.unit() as uow:
            return await uow.events.first_time(event_id)

    def build_publishers(self) -> Mapping[Platform, Publisher]:
        return registry.build_publishers(StoreGateway(self), self.settings)

    async def close(self) -> None:
        for publisher in (self.publishers or {}).values():
            await publisher.close()
        if self.oauth is not None:
            await self.oauth.close()
        if "reach" in self.__dict__:
            await self.reach.close()
        if "reposts" in self.__dict__:
            await self.reposts.close()
        if "coalition_accounts" in self.__dict__:
            for publisher in (self.coalition_accounts.publishers or {}).values():
                await publisher.close()
        await self.store.close()
