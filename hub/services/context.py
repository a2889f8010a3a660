"""What every service needs: the store, the secret box, the settings, a clock, the acting person's roles and
the publishers. It imports no service: :class:`hub.core.Hub` builds on it and hands out the services."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from hub.crypto import SecretBox
from hub.domain.model import Platform
from hub.domain.permissions import Actor
from hub.publishers.base import Publisher
from hub.publishers.mastodon_oauth import MastodonOAuthClient
from hub.settings import Settings
from hub.store import Store, UnitOfWork, utc_now

#: The CLI acts as the operator of the deployment, who has every right.
OPERATOR = "operator:cli"


@dataclass
class ServiceContext:
    """The shared resources a service works with; a service is built from one and never from another service."""

    store: Store
    box: SecretBox
    settings: Settings
    clock: Callable[[], datetime] = field(default=utc_now)
    #: One publisher per network; built on first use unless given (tests, benchmarks).
    publishers: Mapping[Platform, Publisher] | None = None
    #: Mastodon's OAuth endpoints (linking, revoking); built on first use unless given.
    oauth: MastodonOAuthClient | None = None

    async def actor(self, uow: UnitOfWork, user_id: str) -> Actor:
        """The roles ``user_id`` holds, read in the caller's transaction."""
        if user_id == OPERATOR:
            return Actor(user_id, True, frozenset(), frozenset())
        grants = [(g.role, g.coalition_id, g.town_id) for g in await uow.roles.of_user(user_id)]
        return Actor.build(user_id, self.settings.admins, grants)

    def publisher(self, platform: Platform) -> Publisher:
        if self.publishers is None:
            self.publishers = self.build_publishers()
        return self.publishers[platform]

    def oauth_client(self) -> MastodonOAuthClient:
        if self.oauth is None:
            self.oauth = MastodonOAuthClient(self.settings.publish_timeout)
        return self.oauth

    def build_publishers(self) -> Mapping[Platform, Publisher]:
        """The deployment's publishers; only the assembled hub knows how to build them (they read secrets
        through the accounts service), a bare context must be given them."""
        raise LookupError("this context was given no publishers")
